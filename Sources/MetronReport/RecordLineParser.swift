import Foundation
import MetronModel

/// A fast reader of one `requests.jsonl` line: a flat JSON object of numbers, strings, null and
/// arrays of numbers. Returns nil on anything else, and the caller falls back to JSONDecoder, whose
/// error messages say what is wrong. Numbers are parsed by strtod, as JSONDecoder does.
struct RecordLineParser {
    private let base: UnsafePointer<UInt8>
    private let end: Int
    private var i = 0

    /// `bytes` must be followed in memory by a byte that cannot continue a number (the newline).
    static func parse(_ bytes: UnsafeRawBufferPointer) -> RequestRecord? {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        var parser = RecordLineParser(base: base, end: bytes.count)
        return parser.record()
    }

    private init(base: UnsafePointer<UInt8>, end: Int) {
        self.base = base
        self.end = end
    }

    private mutating func skipSpace() {
        while i < end, base[i] == 0x20 || base[i] == 0x09 || base[i] == 0x0D { i += 1 }
    }

    private mutating func expect(_ c: UInt8) -> Bool {
        skipSpace()
        guard i < end, base[i] == c else { return false }
        i += 1
        return true
    }

    private mutating func number() -> Double? {
        skipSpace()
        guard i < end else { return nil }
        let start = UnsafeMutableRawPointer(mutating: base + i).assumingMemoryBound(to: CChar.self)
        var stop: UnsafeMutablePointer<CChar>?
        let value = strtod(start, &stop)
        guard let stop, stop != start else { return nil }
        let length = stop - start
        // strtod accepts more than JSON does (hex, inf, "+1", "01", "2."): check the grammar.
        guard Self.isJSONNumber(UnsafeBufferPointer(start: base + i, count: length)) else { return nil }
        i += length
        return i <= end ? value : nil
    }

    /// `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`
    static func isJSONNumber(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        var k = 0
        func digits() -> Int {
            let start = k
            while k < b.count, b[k] >= UInt8(ascii: "0"), b[k] <= UInt8(ascii: "9") { k += 1 }
            return k - start
        }
        if k < b.count, b[k] == UInt8(ascii: "-") { k += 1 }
        guard k < b.count else { return false }
        if b[k] == UInt8(ascii: "0") { k += 1 } else if digits() == 0 { return false }
        if k < b.count, b[k] == UInt8(ascii: ".") {
            k += 1
            guard digits() > 0 else { return false }
        }
        if k < b.count, b[k] == UInt8(ascii: "e") || b[k] == UInt8(ascii: "E") {
            k += 1
            if k < b.count, b[k] == UInt8(ascii: "+") || b[k] == UInt8(ascii: "-") { k += 1 }
            guard digits() > 0 else { return false }
        }
        return k == b.count
    }

    private mutating func integer() -> Int? {
        guard let v = number(), let n = Int(exactly: v) else { return nil }
        return n
    }

    private mutating func null() -> Bool {
        skipSpace()
        guard end - i >= 4, base[i] == UInt8(ascii: "n"), base[i + 1] == UInt8(ascii: "u"),
              base[i + 2] == UInt8(ascii: "l"), base[i + 3] == UInt8(ascii: "l") else { return false }
        i += 4
        return true
    }

    /// A string without escapes; escaped strings (rare: error texts) go to the fallback.
    private mutating func string() -> String? {
        guard expect(UInt8(ascii: "\"")) else { return nil }
        let start = i
        while i < end, base[i] != UInt8(ascii: "\"") {
            if base[i] == UInt8(ascii: "\\") || base[i] < 0x20 { return nil }
            i += 1
        }
        guard i < end else { return nil }
        let s = String(decoding: UnsafeBufferPointer(start: base + start, count: i - start), as: UTF8.self)
        i += 1
        return s
    }

    private mutating func numbers() -> [Double]? {
        guard expect(UInt8(ascii: "[")) else { return nil }
        var values: [Double] = []
        if expect(UInt8(ascii: "]")) { return values }
        repeat {
            guard let v = number() else { return nil }
            values.append(v)
        } while expect(UInt8(ascii: ","))
        return expect(UInt8(ascii: "]")) ? values : nil
    }

    private mutating func optional<T>(_ read: (inout RecordLineParser) -> T?) -> T?? {
        if null() { return .some(nil) }
        guard let v = read(&self) else { return nil }
        return .some(v)
    }

    private mutating func record() -> RequestRecord? {
        guard expect(UInt8(ascii: "{")) else { return nil }
        var id: Int?, scheduled: Double?, status: RequestStatus?
        var r = RequestRecord(id: 0, scheduledS: 0)
        var seen = Set<String>()
        if !expect(UInt8(ascii: "}")) {
            repeat {
                guard let key = string(), seen.insert(key).inserted, expect(UInt8(ascii: ":")) else { return nil }
                switch key {
                case "id": id = integer()
                case "scheduled_s": scheduled = number()
                case "sent_s": guard let v = optional({ $0.number() }) else { return nil }; r.sentS = v
                case "chunk_times_s": guard let v = numbers() else { return nil }; r.chunkTimesS = v
                case "chunk_tokens":
                    guard let v = numbers() else { return nil }
                    let ints = v.compactMap { Int(exactly: $0) }
                    guard ints.count == v.count else { return nil }
                    r.chunkTokens = ints
                case "requested_prompt_tokens": guard let v = integer() else { return nil }; r.requestedPromptTokens = v
                case "requested_output_tokens": guard let v = integer() else { return nil }; r.requestedOutputTokens = v
                case "prompt_tokens": guard let v = optional({ $0.integer() }) else { return nil }; r.promptTokens = v
                case "output_tokens": guard let v = optional({ $0.integer() }) else { return nil }; r.outputTokens = v
                case "cached_prompt_tokens": guard let v = optional({ $0.integer() }) else { return nil }; r.cachedPromptTokens = v
                case "http_status": guard let v = optional({ $0.integer() }) else { return nil }; r.httpStatus = v
                case "error": guard let v = optional({ $0.string() }) else { return nil }; r.error = v
                case "status": status = string().flatMap(RequestStatus.init(rawValue:))
                case "token_rule":
                    guard let v = optional({ $0.string() }) else { return nil }
                    if let name = v {
                        guard let rule = TokenRule(rawValue: name) else { return nil }
                        r.tokenRule = rule
                    }
                default: return nil
                }
            } while expect(UInt8(ascii: ","))
            guard expect(UInt8(ascii: "}")) else { return nil }
        }
        skipSpace()
        guard i == end, let id, let scheduled, let status else { return nil }
        r.id = id
        r.scheduledS = scheduled
        r.status = status
        return r
    }
}

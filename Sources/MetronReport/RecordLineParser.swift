import Foundation
import MetronModel

/// A fast reader of one `requests.jsonl` line: a flat JSON object of numbers, strings, null and
/// arrays of numbers. Returns nil on anything else, and the caller falls back to JSONDecoder, whose
/// error messages say what is wrong. Numbers round to the same Double as strtod (`DecimalNumber`).
struct RecordLineParser {
    private let base: UnsafePointer<UInt8>
    private let end: Int
    private var i = 0
    private let tables = DecimalNumber.Tables.shared

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
        guard i < end, let (value, next) = DecimalNumber.scanShort(base, i, end, tables) ?? DecimalNumber.scan(base, i, end, tables)
        else { return nil }
        i = next
        return value
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

    /// The bytes of a string without escapes; escaped strings (rare: error texts) go to the fallback.
    private mutating func stringBytes() -> UnsafeBufferPointer<UInt8>? {
        guard expect(UInt8(ascii: "\"")) else { return nil }
        let start = i
        while i < end, base[i] != UInt8(ascii: "\"") {
            if base[i] == UInt8(ascii: "\\") || base[i] < 0x20 { return nil }
            i += 1
        }
        guard i < end else { return nil }
        i += 1
        return UnsafeBufferPointer(start: base + start, count: i - 1 - start)
    }

    private mutating func string() -> String? {
        stringBytes().map { String(decoding: $0, as: UTF8.self) }
    }

    typealias Field = RequestRecord.CodingKeys

    static let fields = Field.allCases
    static let keys: [[UInt8]] = fields.map { Array($0.rawValue.utf8) }

    /// The index of a key in `keys`, compared as bytes: no String per key.
    private mutating func key() -> Int? {
        guard let bytes = stringBytes() else { return nil }
        for (n, key) in Self.keys.enumerated() where key.count == bytes.count {
            if key.withUnsafeBufferPointer({ memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }) { return n }
        }
        return nil
    }

    private mutating func numbers() -> [Double]? {
        guard expect(UInt8(ascii: "[")) else { return nil }
        var values: [Double] = []
        values.reserveCapacity(64)
        if expect(UInt8(ascii: "]")) { return values }
        repeat {
            guard let v = number() else { return nil }
            values.append(v)
        } while expect(UInt8(ascii: ","))
        return expect(UInt8(ascii: "]")) ? values : nil
    }

    /// An array of integers; plain digits are read directly, anything else through `number()`.
    private mutating func integers() -> [Int]? {
        guard expect(UInt8(ascii: "[")) else { return nil }
        var values: [Int] = []
        values.reserveCapacity(64)
        if expect(UInt8(ascii: "]")) { return values }
        repeat {
            skipSpace()
            var k = i, v = 0
            while k < end, k - i < 15, case let d = base[k] &- 0x30, d < 10 { v = v &* 10 &+ Int(d); k += 1 }
            let next = base[k]
            if k > i && (base[i] != UInt8(ascii: "0") || k == i + 1)
                && next != UInt8(ascii: ".") && next | 0x20 != UInt8(ascii: "e") && next &- 0x30 >= 10 {
                i = k
                values.append(v)
            } else {
                guard let x = number(), let n = Int(exactly: x) else { return nil }
                values.append(n)
            }
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
        var seen = 0
        if !expect(UInt8(ascii: "}")) {
            repeat {
                guard let n = key(), seen & (1 << n) == 0, expect(UInt8(ascii: ":")) else { return nil }
                seen |= 1 << n
                switch Self.fields[n] {
                case .id: id = integer()
                case .scheduledS: scheduled = number()
                case .sentS: guard let v = optional({ $0.number() }) else { return nil }; r.sentS = v
                case .chunkTimesS: guard let v = numbers() else { return nil }; r.chunkTimesS = v
                case .chunkTokens: guard let v = integers() else { return nil }; r.chunkTokens = v
                case .chunkReasoningTokens: guard let v = optional({ $0.integers() }) else { return nil }; r.chunkReasoningTokens = v
                case .requestedPromptTokens: guard let v = integer() else { return nil }; r.requestedPromptTokens = v
                case .requestedOutputTokens: guard let v = integer() else { return nil }; r.requestedOutputTokens = v
                case .promptTokens: guard let v = optional({ $0.integer() }) else { return nil }; r.promptTokens = v
                case .outputTokens: guard let v = optional({ $0.integer() }) else { return nil }; r.outputTokens = v
                case .cachedPromptTokens: guard let v = optional({ $0.integer() }) else { return nil }; r.cachedPromptTokens = v
                case .httpStatus: guard let v = optional({ $0.integer() }) else { return nil }; r.httpStatus = v
                case .session: guard let v = optional({ $0.integer() }) else { return nil }; r.session = v
                case .turn: guard let v = optional({ $0.integer() }) else { return nil }; r.turn = v
                case .error: guard let v = optional({ $0.string() }) else { return nil }; r.error = v
                case .status: status = string().flatMap(RequestStatus.init(rawValue:))
                case .tokenRule:
                    guard let v = optional({ $0.string() }) else { return nil }
                    if let name = v {
                        guard let rule = TokenRule(rawValue: name) else { return nil }
                        r.tokenRule = rule
                    }
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

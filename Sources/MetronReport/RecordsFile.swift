import Foundation
import MetronCore

/// `requests.jsonl`: one raw `RequestRecord` per line, the seam between a run and every analysis.
public enum RecordsFile {
    public static let name = "requests.jsonl"

    public struct ReadError: Error, CustomStringConvertible {
        public var path: String
        public var line: Int
        public var message: String
        public var description: String { line > 0 ? "\(path):\(line): \(message)" : "\(path): \(message)" }
    }

    /// Streams the records of a file in order, one line at a time.
    public static func forEach(_ url: URL, _ body: (RequestRecord) throws -> Void) throws {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw ReadError(path: url.path, line: 0, message: "cannot open: no such file or not readable")
        }
        defer { try? handle.close() }
        let decoder = JSONDecoder()
        var number = 0
        for line in JSONLines(handle) {
            number += 1
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { continue }
            var record = line.withUnsafeBytes(RecordLineParser.parse)
            if record == nil {
                do {
                    record = try decoder.decode(RequestRecord.self, from: line)
                } catch {
                    throw ReadError(path: url.path, line: number, message: "not a request record: \(describe(error))")
                }
            }
            guard let record else { continue }
            guard record.chunkTimesS.count == record.chunkTokens.count else {
                throw ReadError(path: url.path, line: number, message: "chunk_times_s and chunk_tokens differ in length")
            }
            try body(record)
        }
    }

    public static func read(_ url: URL) throws -> [RequestRecord] {
        var records: [RequestRecord] = []
        try forEach(url) { records.append($0) }
        return records
    }

    /// The records as JSON lines with sorted keys, in one buffer.
    public static func encode(_ records: [RequestRecord]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = Data()
        for r in records {
            data.append(try encoder.encode(r))
            data.append(UInt8(ascii: "\n"))
        }
        return data
    }

    /// Writes the file atomically: never half-written under its final name.
    public static func write(_ records: [RequestRecord], to url: URL) throws {
        try AtomicWrite.data(encode(records), to: url)
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case let DecodingError.keyNotFound(key, _): return "missing '\(key.stringValue)'"
        case let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return "wrong type at '\(path)'"
        case let DecodingError.dataCorrupted(context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? "invalid JSON" : "invalid value at '\(path)'"
        default: return "\(error)"
        }
    }
}

/// The lines of a file handle as byte buffers, read in 1 MiB blocks so memory stays flat.
public struct JSONLines: Sequence, IteratorProtocol {
    let handle: FileHandle
    private var buffer = Data()
    private var position = 0
    private var done = false

    public init(_ handle: FileHandle) { self.handle = handle }

    public mutating func next() -> Data? {
        while true {
            // memchr over raw bytes: Data's subscript costs an exclusivity check per byte.
            let found = buffer.withUnsafeBytes { raw -> Int? in
                guard position < raw.count, let start = raw.baseAddress?.advanced(by: position),
                      let hit = memchr(start, 0x0A, raw.count - position) else { return nil }
                return position + (UnsafeRawPointer(hit) - start)
            }
            if let newline = found {
                let line = buffer[position..<newline]
                position = newline + 1
                return line
            }
            if done {
                guard position < buffer.count else { return nil }
                defer { position = buffer.count }
                return buffer[position...]
            }
            buffer.removeSubrange(0..<position)
            position = 0
            let block = handle.readData(ofLength: 1 << 20)
            if block.isEmpty {
                done = true
                // Every line handed out is followed by a newline in memory (number parsers rely on it).
                if buffer.last != UInt8(ascii: "\n") && position < buffer.count { buffer.append(UInt8(ascii: "\n")) }
            } else {
                buffer.append(block)
            }
        }
    }
}

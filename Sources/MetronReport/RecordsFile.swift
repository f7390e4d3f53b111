import Foundation
import MetronModel
import Synchronization

/// `requests.jsonl`: one raw `RequestRecord` per line, the seam between a run and every analysis.
/// `metron run` appends each record as its request finishes, so the lines are in finishing order.
public enum RecordsFile {
    public static let name = "requests.jsonl"

    public struct ReadError: Error, CustomStringConvertible {
        public var path: String
        public var line: Int
        public var message: String
        public var description: String { line > 0 ? "\(path):\(line): \(message)" : "\(path): \(message)" }
    }

    /// Streams the records of a file in order. A last line cut short (a run killed while writing
    /// it) is skipped with a warning; any other bad line is an error. Lines are parsed on two other
    /// threads while `body` runs on the caller's. Where the file's binary copy matches it
    /// (`RecordsSidecar`), the copy is read instead.
    public static func forEach(
        _ url: URL, onWarning: (String) -> Void = { _ in }, _ body: (RequestRecord) throws -> Void
    ) throws {
        try forEach(url, onWarning: onWarning, prepare: { $0 }, body)
    }

    /// The same, with each record mapped by `prepare` on the parsing threads (nil leaves it out):
    /// work per record that needs nothing but the record runs there, beside the parsing.
    public static func forEach<Prepared: Sendable>(
        _ url: URL, onWarning: (String) -> Void = { _ in }, prepare: @escaping @Sendable (RequestRecord) -> Prepared?,
        _ body: (Prepared) throws -> Void
    ) throws {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ReadError(path: url.path, line: 0, message: "cannot open: no such file or not readable")
        }
        defer { _ = Glibc.close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            throw ReadError(path: url.path, line: 0, message: "cannot read: " + String(cString: strerror(errno)))
        }
        let sidecar = RecordsSidecar.Index(matching: url, status: status)
        defer { sidecar?.close() }
        let reader: ChunkedRecords<Prepared>
        if let sidecar {
            reader = ChunkedRecords(chunks: sidecar.chunks.count) { SidecarChunkParser(sidecar, prepare: prepare).parse }
        } else {
            reader = ChunkedRecords(chunks: LineChunkParser<Prepared>.chunks(size: Int(status.st_size))) {
                LineChunkParser(fd: fd, prepare: prepare).parse
            }
        }
        defer { reader.stop() }
        var lineBase = 0
        for k in 0..<reader.chunks {
            let chunk = reader.take(k)
            for item in chunk.items {
                switch item {
                case let .record(prepared): try body(prepared)
                case let .warning(line, text): onWarning("\(url.path):\(lineBase + line): \(text)")
                case let .failure(line, text):
                    throw ReadError(path: url.path, line: line == 0 ? 0 : lineBase + line, message: text)
                }
            }
            lineBase += chunk.lines
        }
    }

    /// Whether `forEach` would read the file's binary copy: it exists, is complete and matches the file.
    public static func hasMatchingBinaryCopy(_ url: URL) -> Bool {
        var status = stat()
        guard stat(url.path, &status) == 0, let index = RecordsSidecar.Index(matching: url, status: status) else { return false }
        index.close()
        return true
    }

    public static func read(_ url: URL, onWarning: (String) -> Void = { _ in }) throws -> [RequestRecord] {
        var records: [RequestRecord] = []
        try forEach(url, onWarning: onWarning) { records.append($0) }
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

    /// Writes the file atomically, never half-written under its final name, then its binary copy.
    public static func write(_ records: [RequestRecord], to url: URL) throws {
        try AtomicWrite.data(encode(records), to: url)
        var status = stat()
        if stat(url.path, &status) == 0 { RecordsSidecar.write(records, matching: status, to: RecordsSidecar.url(for: url)) }
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

/// Appends records to a new `requests.jsonl` as they finish, one write(2) per batch handed over
/// (the load generator hands batches over ten times a second), so a run killed with -9 keeps every
/// record that finished before its last batch. Its binary copy (`RecordsSidecar`) is written
/// beside it and completed on closing. Called from one task at a time; safe from any.
public final class RecordsFileWriter: Sendable {
    private struct State {
        var fd: Int32
        /// The binary copy's descriptor; -1 when there is none, or it has been given up.
        var sidecarFD: Int32 = -1
        var written = 0
        var failure: String?
    }
    private let state: Mutex<State>
    public let url: URL

    /// Creates the file; fails if it exists.
    public convenience init(creating url: URL) throws {
        try self.init(url: url, flags: O_CREAT | O_EXCL)
    }

    /// Appends to an existing file (a device such as /dev/full, in tests of the failure path).
    convenience init(openingForTest path: String) throws {
        try self.init(url: URL(fileURLWithPath: path), flags: 0)
    }

    private init(url: URL, flags: Int32) throws {
        let fd = open(url.path, O_WRONLY | O_APPEND | O_CLOEXEC | flags, 0o644)
        guard fd >= 0 else {
            throw RecordsFile.ReadError(path: url.path, line: 0, message: "cannot create: \(String(cString: strerror(errno)))")
        }
        self.url = url
        var initial = State(fd: fd)
        if flags & O_CREAT != 0 {
            initial.sidecarFD = open(RecordsSidecar.url(for: url).path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        }
        state = Mutex(initial)
        state.withLock { appendSidecar(RecordsSidecar.magic, to: &$0) }
    }

    private static func writeAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < raw.count {
            let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        return true
    }

    private func appendSidecar(_ bytes: [UInt8], to s: inout State) {
        guard s.sidecarFD >= 0 else { return }
        if !bytes.withUnsafeBytes({ Self.writeAll(s.sidecarFD, $0) }) { dropSidecar(&s) }
    }

    /// A copy that cannot be completed is removed: the JSON lines alone are read then.
    private func dropSidecar(_ s: inout State) {
        guard s.sidecarFD >= 0 else { return }
        _ = Glibc.close(s.sidecarFD)
        s.sidecarFD = -1
        unlink(RecordsSidecar.url(for: url).path)
    }

    deinit { close() }

    /// Appends records; after the first failure (disk full, say) nothing more is written and
    /// `failure` says why.
    public func append(_ records: [RequestRecord]) {
        guard !records.isEmpty else { return }
        state.withLock { s in
            guard s.failure == nil, s.fd >= 0 else { return }
            let data: Data
            do { data = try RecordsFile.encode(records) } catch {
                s.failure = "cannot encode a record: \(error)"
                return
            }
            guard data.withUnsafeBytes({ Self.writeAll(s.fd, $0) }) else {
                s.failure = "cannot write: \(String(cString: strerror(errno)))"
                dropSidecar(&s)
                return
            }
            s.written += records.count
            appendSidecar(RecordsSidecar.blocks(records), to: &s)
        }
    }

    /// Records written so far.
    public var written: Int { state.withLock { $0.written } }

    /// Why writing stopped, or nil.
    public var failure: String? { state.withLock { $0.failure } }

    /// Closes the file, and completes its binary copy with the trailer that ties it to the file.
    public func close() {
        state.withLock { s in
            guard s.fd >= 0 else { return }
            var status = stat()
            if s.failure == nil, fstat(s.fd, &status) == 0 {
                appendSidecar(RecordsSidecar.trailer(recordsFile: status, records: s.written), to: &s)
            } else {
                dropSidecar(&s)
            }
            if s.sidecarFD >= 0 { _ = Glibc.close(s.sidecarFD) }
            s.sidecarFD = -1
            _ = Glibc.close(s.fd)
            s.fd = -1
        }
    }
}

/// The lines of a file handle as byte buffers, read in 1 MiB blocks so memory stays flat.
public struct JSONLines: Sequence, IteratorProtocol {
    let handle: FileHandle
    private var buffer = Data()
    private var position = 0
    private var done = false
    /// Set when the file did not end with a newline (one was added in memory).
    private var addedFinalNewline = false
    /// True when the line just returned is the file's last and had no newline of its own.
    public private(set) var returnedUnterminatedLastLine = false

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
                returnedUnterminatedLastLine = addedFinalNewline && position == buffer.count
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
                if buffer.last != UInt8(ascii: "\n") && position < buffer.count {
                    buffer.append(UInt8(ascii: "\n"))
                    addedFinalNewline = true
                }
            } else {
                buffer.append(block)
            }
        }
    }
}

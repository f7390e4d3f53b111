import Foundation
import MetronModel
import Synchronization

/// The lines of a file descriptor, read in large blocks into one buffer that is reused: memory
/// stays flat and no line is copied. Every line handed out is followed in memory by a newline.
struct LineBlocks: ~Copyable {
    private let fd: Int32
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0, filled = 0
    private var eof = false
    /// File offset of `buffer[0]`.
    private var bufferOffset: Int
    /// File offset of the line just returned.
    private(set) var lineOffset = 0
    /// True when the line just returned is the file's last and had no newline of its own.
    private(set) var returnedUnterminatedLastLine = false

    /// Reads from `offset` on, by pread: several readers can share one descriptor.
    init(fd: Int32, offset: Int = 0, blockSize: Int = 1 << 18) {
        self.fd = fd
        bufferOffset = offset
        buffer = .allocate(byteCount: blockSize + 1, alignment: 64)
    }

    deinit { buffer.deallocate() }

    /// Starts again at `offset`, keeping the buffer.
    mutating func restart(at offset: Int) {
        bufferOffset = offset
        start = 0
        filled = 0
        eof = false
        returnedUnterminatedLastLine = false
    }

    /// The next line without its newline; nil at the end of the file. Throws on a read error.
    mutating func next() throws -> UnsafeRawBufferPointer? {
        while true {
            let base = buffer.baseAddress!
            if start < filled, let hit = memchr(base + start, 0x0A, filled - start) {
                let newline = UnsafeRawPointer(hit) - UnsafeRawPointer(base)
                let line = UnsafeRawBufferPointer(start: base + start, count: newline - start)
                lineOffset = bufferOffset + start
                start = newline + 1
                return line
            }
            if eof {
                guard start < filled else { return nil }
                // The last line had no newline: one is added in memory (the buffer keeps a spare byte).
                base.storeBytes(of: 0x0A, toByteOffset: filled, as: UInt8.self)
                let line = UnsafeRawBufferPointer(start: base + start, count: filled - start)
                lineOffset = bufferOffset + start
                start = filled
                returnedUnterminatedLastLine = true
                return line
            }
            try refill()
        }
    }

    private mutating func refill() throws {
        let capacity = buffer.count - 1
        if start > 0 {
            memmove(buffer.baseAddress!, buffer.baseAddress! + start, filled - start)
            filled -= start
            bufferOffset += start
            start = 0
        }
        if filled == capacity {
            // A line longer than the buffer: grow it.
            let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * capacity + 1, alignment: 64)
            larger.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[0..<filled]))
            buffer.deallocate()
            buffer = larger
        }
        while true {
            let n = pread(fd, buffer.baseAddress! + filled, buffer.count - 1 - filled, off_t(bufferOffset + filled))
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw ReadFailure(errno: errno) }
            if n == 0 { eof = true } else { filled += n }
            return
        }
    }

    struct ReadFailure: Error { var errno: Int32 }
}

/// One record line decoded, or why it is not a record.
enum RecordLine {
    case record(RequestRecord)
    case blank
    /// The last line, cut short by a run stopped while writing it.
    case incompleteLast(String)
    case bad(String)

    static func decode(_ line: UnsafeRawBufferPointer, unterminatedLast: Bool, decoder: JSONDecoder) -> RecordLine {
        if line.isEmpty || line[0] == UInt8(ascii: " ") || line[0] == UInt8(ascii: "\r"),
           line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { return .blank }
        var record = RecordLineParser.parse(line)
        if record == nil {
            do {
                record = try decoder.decode(RequestRecord.self, from: Data(line))
            } catch {
                if unterminatedLast {
                    return .incompleteLast("the last line is incomplete (the run was stopped while writing it) and is skipped")
                }
                return .bad("not a request record: \(RecordsFile.describe(error))")
            }
        }
        guard let record else { return .blank }
        if let problem = record.chunkArraysProblem { return .bad(problem) }
        return .record(record)
    }
}

/// What a worker hands over for one chunk of a records file.
struct RecordChunk<Prepared: Sendable>: Sendable {
    enum Item: Sendable {
        case record(Prepared)
        /// Line numbers count from the chunk's first line.
        case warning(line: Int, String)
        case failure(line: Int, String)
    }

    var items: [Item] = []
    var lines = 0
}

/// Parses the chunks of a JSON-lines records file, for `ChunkedRecords`; one per worker thread.
/// The file is cut into chunks of `chunkSize` bytes, and a chunk holds the lines that start in it.
final class LineChunkParser<Prepared: Sendable> {
    static var chunkSize: Int { 1 << 18 }

    static func chunks(size: Int) -> Int { (size + chunkSize - 1) / chunkSize }

    private let prepare: (RequestRecord) -> Prepared?
    private let decoder = JSONDecoder()
    // One read covers a chunk and the line running out of it, as a rule.
    private var lines: LineBlocks

    init(fd: Int32, prepare: @escaping (RequestRecord) -> Prepared?) {
        self.prepare = prepare
        lines = LineBlocks(fd: fd, blockSize: Self.chunkSize + (1 << 16))
    }

    func parse(_ k: Int) -> RecordChunk<Prepared> {
        let begin = k * Self.chunkSize, end = begin + Self.chunkSize
        lines.restart(at: Swift.max(0, begin - 1))
        var chunk = RecordChunk<Prepared>()
        do {
            // The line running into the chunk belongs to the one before (an empty piece if the
            // byte before the chunk is a newline).
            if k > 0 { _ = try lines.next() }
            while let line = try lines.next(), lines.lineOffset < end {
                chunk.lines += 1
                switch RecordLine.decode(line, unterminatedLast: lines.returnedUnterminatedLastLine, decoder: decoder) {
                case let .record(r): if let p = prepare(r) { chunk.items.append(.record(p)) }
                case .blank: break
                case let .incompleteLast(text): chunk.items.append(.warning(line: chunk.lines, text))
                case let .bad(text):
                    chunk.items.append(.failure(line: chunk.lines, text))
                    return chunk
                }
            }
        } catch let failure as LineBlocks.ReadFailure {
            chunk.items.append(.failure(line: 0, "cannot read: " + String(cString: strerror(failure.errno))))
        } catch {
            chunk.items.append(.failure(line: 0, "cannot read: \(error)"))
        }
        return chunk
    }
}

/// Reads the chunks of a records file in parallel and hands them over in file order: two workers
/// parse alternate chunks, and at most `slots` parsed chunks wait for the consumer, so memory stays
/// flat.
final class ChunkedRecords<Prepared: Sendable>: @unchecked Sendable {
    typealias Chunk = RecordChunk<Prepared>

    static var slots: Int { 4 }

    let chunks: Int
    private let workers: Int
    private let results = Mutex<[Chunk?]>(Array(repeating: nil, count: ChunkedRecords.slots))
    private let filled = (0..<ChunkedRecords.slots).map { _ in DispatchSemaphore(value: 0) }
    // Created at 0 and signalled: libdispatch traps on freeing a semaphore below its initial value.
    private let empty = (0..<ChunkedRecords.slots).map { _ in
        let s = DispatchSemaphore(value: 0)
        s.signal()
        return s
    }
    private let finished = DispatchSemaphore(value: 0)
    private let stopped = Atomic<Bool>(false)

    /// Each worker makes its own parser with `makeParser`, on its own thread.
    init(chunks: Int, makeParser: @escaping @Sendable () -> (Int) -> Chunk) {
        self.chunks = chunks
        workers = Swift.min(2, chunks)
        for w in 0..<workers { Thread { [self] in work(w, parse: makeParser()) }.start() }
    }

    private func work(_ w: Int, parse: (Int) -> Chunk) {
        defer { finished.signal() }
        var k = w
        while k < chunks {
            let slot = k % Self.slots
            let chunk = parse(k)
            empty[slot].wait()
            if stopped.load(ordering: .relaxed) { return }
            results.withLock { $0[slot] = chunk }
            filled[slot].signal()
            k += workers
        }
    }

    /// Chunk `k`, in order: each is taken once, after chunk `k - 1`.
    func take(_ k: Int) -> Chunk {
        let slot = k % Self.slots
        filled[slot].wait()
        let chunk = results.withLock { r -> Chunk in
            defer { r[slot] = nil }
            return r[slot]!
        }
        empty[slot].signal()
        return chunk
    }

    /// Stops the workers and waits for them to leave the file.
    func stop() {
        stopped.store(true, ordering: .relaxed)
        for e in empty { e.signal() }
        for _ in 0..<workers { finished.wait() }
    }
}

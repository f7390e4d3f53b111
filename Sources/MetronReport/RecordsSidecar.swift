import Foundation
import MetronModel

#if _endian(big)
#error("the binary records copy is written in the host's byte order, which must be little-endian")
#endif

/// `requests.bin`: the records of `requests.jsonl` again, in a binary form that is read without
/// parsing text. The writer of the JSON lines writes it beside them, batch by batch, and on closing
/// adds a trailer naming the JSON file's size and modification time. It is read instead of the JSON
/// lines only while that trailer matches them, so the JSON lines stay the record of the run and the
/// copy can be deleted at any time.
///
/// Layout: the magic, then blocks (payload bytes u32, records u32, checksum u64, payload), then the
/// trailer (JSON size u64, its mtime seconds i64 and nanoseconds i64, records u64, end magic).
/// A payload is one frame per record: every field in `RequestRecord.CodingKeys` order, optional ones
/// behind a presence byte; integers as zigzag varints, doubles as their 8 bytes.
enum RecordsSidecar {
    static let magic = Array("MTRNRB01".utf8)
    static let endMagic = Array("MTRNRBEN".utf8)
    static let blockHeaderSize = 16
    static let trailerSize = 40
    /// A block is closed once its payload reaches this size.
    static let blockTarget = 1 << 18

    static func url(for records: URL) -> URL {
        records.pathExtension == "jsonl"
            ? records.deletingPathExtension().appendingPathExtension("bin") : records.appendingPathExtension("bin")
    }

    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        let words = bytes.count / 8
        for w in 0..<words { h = (h ^ bytes.loadUnaligned(fromByteOffset: 8 * w, as: UInt64.self)) &* 0x100_0000_01b3 }
        for i in (8 * words)..<bytes.count { h = (h ^ UInt64(bytes[i])) &* 0x100_0000_01b3 }
        return h
    }

    /// The blocks of `records` as they are appended to the file.
    static func blocks(_ records: [RequestRecord]) -> [UInt8] {
        var out: [UInt8] = [], payload = FrameWriter(), count = 0
        func flush() {
            guard count > 0 else { return }
            var header = FrameWriter()
            header.u32(UInt32(payload.bytes.count))
            header.u32(UInt32(count))
            header.u64(payload.bytes.withUnsafeBytes(checksum))
            out += header.bytes
            out += payload.bytes
            payload.bytes.removeAll(keepingCapacity: true)
            count = 0
        }
        for r in records {
            payload.record(r)
            count += 1
            if payload.bytes.count >= blockTarget { flush() }
        }
        flush()
        return out
    }

    static func trailer(recordsFile status: stat, records: Int) -> [UInt8] {
        var t = FrameWriter()
        t.u64(UInt64(status.st_size))
        t.u64(UInt64(bitPattern: Int64(status.st_mtim.tv_sec)))
        t.u64(UInt64(bitPattern: Int64(status.st_mtim.tv_nsec)))
        t.u64(UInt64(records))
        t.bytes += endMagic
        return t.bytes
    }

    /// Writes the whole copy of a records file that has just been written (`status` is its stat),
    /// atomically; a failure only leaves the copy out.
    static func write(_ records: [RequestRecord], matching status: stat, to url: URL) {
        try? AtomicWrite.data(Data(magic + blocks(records) + trailer(recordsFile: status, records: records.count)), to: url)
    }

    /// A complete copy that matches the records file, cut into byte ranges of whole blocks for the
    /// parallel reader; nil when there is none, or it does not match.
    struct Index {
        let fd: Int32
        let url: URL
        /// Byte ranges of whole blocks, each about `blockTarget` long or one block.
        let chunks: [Range<Int>]

        init?(matching recordsFile: URL, status: stat) {
            let url = RecordsSidecar.url(for: recordsFile)
            let fd = open(url.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            guard let chunks = Self.chunks(fd: fd, matching: status) else {
                _ = Glibc.close(fd)
                return nil
            }
            self.fd = fd
            self.url = url
            self.chunks = chunks
        }

        func close() { _ = Glibc.close(fd) }

        private static func chunks(fd: Int32, matching status: stat) -> [Range<Int>]? {
            var own = stat()
            guard fstat(fd, &own) == 0, case let size = Int(own.st_size), size >= magic.count + trailerSize,
                  let head = read(fd, at: 0, count: magic.count), head == magic,
                  let tail = read(fd, at: size - trailerSize, count: trailerSize), Array(tail[32...]) == endMagic
            else { return nil }
            let field = { (k: Int) in tail.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8 * k, as: UInt64.self) } }
            guard field(0) == UInt64(status.st_size), Int64(bitPattern: field(1)) == Int64(status.st_mtim.tv_sec),
                  Int64(bitPattern: field(2)) == Int64(status.st_mtim.tv_nsec) else { return nil }
            var chunks: [Range<Int>] = [], offset = magic.count, chunkStart = offset, records: UInt64 = 0
            let end = size - trailerSize
            while offset < end {
                guard let header = read(fd, at: offset, count: blockHeaderSize) else { return nil }
                let (length, count) = header.withUnsafeBytes {
                    (Int($0.loadUnaligned(as: UInt32.self)), UInt64($0.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
                }
                offset += blockHeaderSize + length
                records += count
                if offset - chunkStart >= blockTarget || offset >= end {
                    chunks.append(chunkStart..<offset)
                    chunkStart = offset
                }
            }
            guard offset == end, records == field(3) else { return nil }
            return chunks
        }

        private static func read(_ fd: Int32, at offset: Int, count: Int) -> [UInt8]? {
            var bytes = [UInt8](repeating: 0, count: count)
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
            return n == count ? bytes : nil
        }
    }
}

/// Parses the chunks of a binary copy, for `ChunkedRecords`; one per worker thread.
final class SidecarChunkParser<Prepared: Sendable> {
    private let index: RecordsSidecar.Index
    private let prepare: (RequestRecord) -> Prepared?
    private var buffer: UnsafeMutableRawBufferPointer

    init(_ index: RecordsSidecar.Index, prepare: @escaping (RequestRecord) -> Prepared?) {
        self.index = index
        self.prepare = prepare
        buffer = .allocate(byteCount: RecordsSidecar.blockTarget * 2, alignment: 64)
    }

    deinit { buffer.deallocate() }

    func parse(_ k: Int) -> RecordChunk<Prepared> {
        let range = index.chunks[k]
        var chunk = RecordChunk<Prepared>()
        if buffer.count < range.count {
            buffer.deallocate()
            buffer = .allocate(byteCount: range.count, alignment: 64)
        }
        var filled = 0
        while filled < range.count {
            let n = pread(index.fd, buffer.baseAddress! + filled, range.count - filled, off_t(range.lowerBound + filled))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                chunk.items.append(.failure(line: 0, "cannot read its binary copy \(index.url.lastPathComponent): "
                    + (n == 0 ? "it ended early" : String(cString: strerror(errno)))))
                return chunk
            }
            filled += n
        }
        let bytes = UnsafeRawBufferPointer(start: buffer.baseAddress, count: range.count)
        var offset = 0
        while offset < bytes.count {
            let length = Int(bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            let count = Int(bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
            let sum = bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)
            let start = offset + RecordsSidecar.blockHeaderSize
            guard start + length <= bytes.count,
                  case let payload = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)]),
                  RecordsSidecar.checksum(payload) == sum
            else { return damaged(chunk, at: chunk.lines + 1) }
            var frames = FrameReader(payload)
            for _ in 0..<count {
                chunk.lines += 1
                guard let record = frames.record() else { return damaged(chunk, at: chunk.lines) }
                if let problem = record.chunkArraysProblem {
                    chunk.items.append(.failure(line: chunk.lines, problem))
                    return chunk
                }
                if let p = prepare(record) { chunk.items.append(.record(p)) }
            }
            guard frames.atEnd else { return damaged(chunk, at: chunk.lines) }
            offset = start + length
        }
        return chunk
    }

    private func damaged(_ chunk: RecordChunk<Prepared>, at line: Int) -> RecordChunk<Prepared> {
        var chunk = chunk
        let name = index.url.lastPathComponent
        chunk.items.append(.failure(line: line, "its binary copy \(name) is damaged here: delete \(name) to read the JSON lines themselves"))
        return chunk
    }
}

struct FrameWriter {
    var bytes: [UInt8] = []

    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }

    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func int(_ v: Int) { varint(UInt64(bitPattern: Int64((v << 1) ^ (v >> (Int.bitWidth - 1))))) }

    mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        varint(UInt64(utf8.count))
        bytes += utf8
    }

    mutating func doubles(_ a: [Double]) {
        varint(UInt64(a.count))
        a.withUnsafeBytes { bytes += $0 }
    }

    mutating func ints(_ a: [Int]) {
        varint(UInt64(a.count))
        for v in a { int(v) }
    }

    mutating func optional<T>(_ value: T?, _ write: (inout FrameWriter, T) -> Void) {
        guard let value else { return bytes.append(0) }
        bytes.append(1)
        write(&self, value)
    }

    mutating func record(_ r: RequestRecord) {
        for field in RequestRecord.CodingKeys.allCases {
            switch field {
            case .id: int(r.id)
            case .scheduledS: u64(r.scheduledS.bitPattern)
            case .sentS: optional(r.sentS) { $0.u64($1.bitPattern) }
            case .chunkTimesS: doubles(r.chunkTimesS)
            case .chunkTokens: ints(r.chunkTokens)
            case .chunkReasoningTokens: optional(r.chunkReasoningTokens) { $0.ints($1) }
            case .requestedPromptTokens: int(r.requestedPromptTokens)
            case .requestedOutputTokens: int(r.requestedOutputTokens)
            case .promptTokens: optional(r.promptTokens) { $0.int($1) }
            case .outputTokens: optional(r.outputTokens) { $0.int($1) }
            case .cachedPromptTokens: optional(r.cachedPromptTokens) { $0.int($1) }
            case .httpStatus: optional(r.httpStatus) { $0.int($1) }
            case .session: optional(r.session) { $0.int($1) }
            case .turn: optional(r.turn) { $0.int($1) }
            case .error: optional(r.error) { $0.string($1) }
            case .status: string(r.status.rawValue)
            case .tokenRule: optional(r.tokenRule) { $0.string($1.rawValue) }
            }
        }
    }
}

/// Reads frames written by `FrameWriter`; every read checks its bounds and returns nil past them.
struct FrameReader {
    private let bytes: UnsafeRawBufferPointer
    private var i = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var atEnd: Bool { i == bytes.count }

    private mutating func u64() -> UInt64? {
        guard bytes.count - i >= 8 else { return nil }
        defer { i += 8 }
        return bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
    }

    private mutating func varint() -> UInt64? {
        var v: UInt64 = 0, shift: UInt64 = 0
        while i < bytes.count, shift < 64 {
            let b = bytes[i]
            i += 1
            v |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return v }
            shift += 7
        }
        return nil
    }

    private mutating func int() -> Int? {
        guard let u = varint() else { return nil }
        return Int(truncatingIfNeeded: u >> 1) ^ -Int(truncatingIfNeeded: u & 1)
    }

    private mutating func double() -> Double? { u64().map(Double.init(bitPattern:)) }

    private mutating func count(ofWidth width: Int) -> Int? {
        guard let n = varint(), n <= UInt64((bytes.count - i) / width) else { return nil }
        return Int(n)
    }

    private mutating func string() -> String? {
        guard let n = count(ofWidth: 1) else { return nil }
        defer { i += n }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[i..<(i + n)]), as: UTF8.self)
    }

    private mutating func doubles() -> [Double]? {
        guard let n = count(ofWidth: 8) else { return nil }
        defer { i += 8 * n }
        return [Double](unsafeUninitializedCapacity: n) { out, initialized in
            if n > 0 { memcpy(out.baseAddress!, bytes.baseAddress! + i, 8 * n) }
            initialized = n
        }
    }

    private mutating func ints() -> [Int]? {
        guard let n = count(ofWidth: 1) else { return nil }
        var values: [Int] = []
        values.reserveCapacity(n)
        for _ in 0..<n {
            // One byte, as token counts are: decoded here rather than through `int()`.
            if i < bytes.count, case let b = bytes[i], b < 0x80 {
                i += 1
                values.append(Int(b >> 1) ^ -Int(b & 1))
                continue
            }
            guard let v = int() else { return nil }
            values.append(v)
        }
        return values
    }

    /// `.some(nil)` for an absent value, nil for a frame that is damaged.
    private mutating func optional<T>(_ read: (inout FrameReader) -> T?) -> T?? {
        guard i < bytes.count else { return nil }
        let present = bytes[i]
        i += 1
        switch present {
        case 0: return .some(nil)
        case 1: return read(&self).map { .some($0) }
        default: return nil
        }
    }

    mutating func record() -> RequestRecord? {
        var r = RequestRecord(id: 0, scheduledS: 0)
        for field in RequestRecord.CodingKeys.allCases {
            switch field {
            case .id: guard let v = int() else { return nil }; r.id = v
            case .scheduledS: guard let v = double() else { return nil }; r.scheduledS = v
            case .sentS: guard let v = optional({ $0.double() }) else { return nil }; r.sentS = v
            case .chunkTimesS: guard let v = doubles() else { return nil }; r.chunkTimesS = v
            case .chunkTokens: guard let v = ints() else { return nil }; r.chunkTokens = v
            case .chunkReasoningTokens: guard let v = optional({ $0.ints() }) else { return nil }; r.chunkReasoningTokens = v
            case .requestedPromptTokens: guard let v = int() else { return nil }; r.requestedPromptTokens = v
            case .requestedOutputTokens: guard let v = int() else { return nil }; r.requestedOutputTokens = v
            case .promptTokens: guard let v = optional({ $0.int() }) else { return nil }; r.promptTokens = v
            case .outputTokens: guard let v = optional({ $0.int() }) else { return nil }; r.outputTokens = v
            case .cachedPromptTokens: guard let v = optional({ $0.int() }) else { return nil }; r.cachedPromptTokens = v
            case .httpStatus: guard let v = optional({ $0.int() }) else { return nil }; r.httpStatus = v
            case .session: guard let v = optional({ $0.int() }) else { return nil }; r.session = v
            case .turn: guard let v = optional({ $0.int() }) else { return nil }; r.turn = v
            case .error: guard let v = optional({ $0.string() }) else { return nil }; r.error = v
            case .status:
                guard let v = string().flatMap(RequestStatus.init(rawValue:)) else { return nil }
                r.status = v
            case .tokenRule:
                guard let v = optional({ $0.string() }) else { return nil }
                if let name = v {
                    guard let rule = TokenRule(rawValue: name) else { return nil }
                    r.tokenRule = rule
                }
            }
        }
        return r
    }
}

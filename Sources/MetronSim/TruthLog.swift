import Foundation

/// For every token written to a socket: `request_id,emission_time_s` on CLOCK_MONOTONIC. Lines are
/// buffered in memory and written in large blocks, and at `close()`. Confined to the server's event loop.
final class TruthLog {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private static let flushThreshold = 1 << 20

    init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil),
            let handle = FileHandle(forWritingAtPath: path)
        else {
            throw SimulatorServerError.cannotWrite(path)
        }
        self.handle = handle
        buffer.reserveCapacity(Self.flushThreshold + 4096)
        buffer.append(contentsOf: Array("request_id,emission_time_s\n".utf8))
    }

    /// Records one token of `requestID` emitted at `nanoseconds` on the monotonic clock.
    func record(_ requestID: String, nanoseconds: UInt64) {
        buffer.append(contentsOf: requestID.utf8)
        buffer.append(UInt8(ascii: ","))
        appendDecimal(nanoseconds / 1_000_000_000)
        buffer.append(UInt8(ascii: "."))
        var fraction = nanoseconds % 1_000_000_000
        var digits = [UInt8](repeating: UInt8(ascii: "0"), count: 9)
        for i in stride(from: 8, through: 0, by: -1) {
            digits[i] = UInt8(ascii: "0") + UInt8(fraction % 10)
            fraction /= 10
        }
        buffer.append(contentsOf: digits)
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= Self.flushThreshold { flush() }
    }

    private func appendDecimal(_ value: UInt64) {
        var v = value
        var digits: [UInt8] = []
        repeat {
            digits.append(UInt8(ascii: "0") + UInt8(v % 10))
            v /= 10
        } while v > 0
        buffer.append(contentsOf: digits.reversed())
    }

    func flush() {
        guard !buffer.isEmpty else { return }
        handle.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }

    func close() {
        flush()
        try? handle.close()
    }
}

import Foundation
import MetronStats

/// Seeded mutations of valid inputs for fuzz tests: byte flips, insertions of interesting bytes,
/// deletions, duplications, truncation and splices. The same seed gives the same cases.
public struct Mutator {
    private let rng: RandomSource

    /// Iterations per fuzz target: small in the test suite, larger in the benchmark command
    /// (`METRON_FUZZ_ITERATIONS`).
    public static var iterations: Int {
        ProcessInfo.processInfo.environment["METRON_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 2_000
    }

    public init(seed: UInt64) { rng = RandomSource(seed: seed) }

    static let interesting: [UInt8] = Array("{}[]\",:\\\n\r -+.eE0123456789tfn".utf8) + [0, 0x7F, 0x80, 0xC3, 0xFF]

    public func integer(_ range: ClosedRange<Int>) -> Int { rng.integer(in: range) }

    /// One to four mutations of `input`.
    public func mutate(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        for _ in 0..<integer(1...4) {
            let position = bytes.isEmpty ? 0 : integer(0...bytes.count - 1)
            switch integer(0...6) {
            case 0 where !bytes.isEmpty: bytes[position] ^= UInt8(1 << integer(0...7))
            case 1: bytes.insert(Self.interesting[integer(0...Self.interesting.count - 1)], at: position)
            case 2 where !bytes.isEmpty:
                bytes.removeSubrange(position..<min(bytes.count, position + integer(1...16)))
            case 3 where !bytes.isEmpty:
                let end = min(bytes.count, position + integer(1...32))
                bytes.insert(contentsOf: bytes[position..<end], at: position)
            case 4: bytes = Array(bytes.prefix(position))
            case 5: bytes.insert(contentsOf: (0..<integer(1...8)).map { _ in UInt8(integer(0...255)) }, at: position)
            default:
                if !bytes.isEmpty { bytes[position] = Self.interesting[integer(0...Self.interesting.count - 1)] }
            }
        }
        return bytes
    }

    /// Random bytes, mostly from the interesting set.
    public func noise(maxLength: Int) -> [UInt8] {
        (0..<integer(0...maxLength)).map { _ in
            integer(0...3) == 0 ? UInt8(integer(0...255)) : Self.interesting[integer(0...Self.interesting.count - 1)]
        }
    }
}

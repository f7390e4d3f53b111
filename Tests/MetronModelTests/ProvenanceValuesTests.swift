import Foundation
import MetronModel
import XCTest

final class ProvenanceValuesTests: XCTestCase {
    /// FIPS 180-4 examples: empty, one block, two blocks, and a million bytes.
    func testSHA256MatchesTheStandardsVectors() {
        XCTAssertEqual(SHA256.hex([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        // Lengths around the padding boundary (55, 56 and 64 bytes) differ from one another.
        let digests = [55, 56, 63, 64, 65].map { SHA256.hex([UInt8](repeating: 1, count: $0)) }
        XCTAssertEqual(Set(digests).count, 5)
    }

    func testTimestampsAreUTCAndLatenessIsSummarised() throws {
        XCTAssertEqual(Provenance.timestamp(Date(timeIntervalSince1970: 0)), "1970-01-01T00:00:00Z")
        XCTAssertNil(LatenessSummary([]))
        let summary = try XCTUnwrap(LatenessSummary((1...100).map { Double($0) / 1000 }))
        XCTAssertEqual(summary.samples, 100)
        XCTAssertEqual(summary.p50S, 0.050)
        XCTAssertEqual(summary.p99S, 0.099)
        XCTAssertEqual(summary.maxS, 0.100)
    }
}

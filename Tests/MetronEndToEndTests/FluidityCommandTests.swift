import Foundation
import MetronTestSupport
import XCTest

final class FluidityCommandTests: XCTestCase {
    func testGoldenFileEndToEnd() throws {
        let golden = try Fixtures.url("golden/fluidity_vectors.jsonl")
        let result = try MetronBinary.run(["fluidity", golden.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 440)
        let first = try XCTUnwrap(lines.first.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String: Any])
        XCTAssertEqual(first["missed_deadlines"] as? Int, 61)
        XCTAssertEqual(first["total_deadlines"] as? Int, 91)
    }

    func testBadLinesAnswerWithAnErrorAndTheRestGoOn() throws {
        let input = """
            {"kind": "request", "inter_token_times": [0.5, 0.05, 0.05], "ttft_deadline": 0.3, "tbt_deadline": 0.05, "target_deadline_miss_rate": 0.1}
            {"kind": "request", "inter_token_times": [0.5
            {"kind": "service", "requests": [[0.1, 0.02]]}
            """
        let result = try MetronBinary.run(["fluidity"], stdin: input)
        XCTAssertEqual(result.status, 1)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        guard lines.count == 3 else { return XCTFail("expected 3 answers, got: \(result.stdout)") }
        XCTAssertTrue(lines[0].contains("\"missed_deadlines\":5"), lines[0])
        XCTAssertTrue(lines[1].hasPrefix("{\"error\":\"line 2: not valid JSON"), lines[1])
        XCTAssertTrue(lines[2].contains("service_total_deadlines"), lines[2])
        XCTAssertTrue(result.stderr.contains("<stdin>:2: not valid JSON"), result.stderr)
    }

    func testMissingFileIsAUsageError() throws {
        let result = try MetronBinary.run(["fluidity", "/nonexistent/vectors.jsonl"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("cannot open /nonexistent/vectors.jsonl"), result.stderr)
    }
}

import Foundation
import MetronReport
import XCTest

final class FluidityLinesTests: XCTestCase {
    func testRequestLine() throws {
        let out = try FluidityLines.evaluate("""
            {"kind": "request", "inter_token_times": [0.5, 0.05, 0.05], "ttft_deadline": 0.3, "tbt_deadline": 0.05, \
            "ignore_first_token": false, "target_deadline_miss_rate": 0.1, "expected": {"ignored": true}}
            """)
        XCTAssertEqual(out["missed_deadlines"] as? Int, 5)
        XCTAssertEqual(out["total_deadlines"] as? Int, 7)
        XCTAssertEqual(try XCTUnwrap(out["deadline_miss_rate"] as? Double), 5.0 / 7, accuracy: 1e-12)
        XCTAssertNotNil(out["min_tbt_deadline_to_meet"])
    }

    func testServiceLineUsesTheDefaultDeadlines() throws {
        let out = try FluidityLines.evaluate(#"{"kind": "service", "requests": [[0.1, 0.02, 0.02], [0.2, 0.04]]}"#)
        XCTAssertEqual(out["service_missed_deadlines"] as? Int, 0)
        XCTAssertEqual(out["service_total_deadlines"] as? Int, 5)
        XCTAssertEqual(try XCTUnwrap(out["tpot_based_throughput"] as? Double), 1 / ((0.02 + 0.04) / 2), accuracy: 1e-9)
    }

    func testBadLinesSayWhatIsWrong() {
        let cases: [(String, String)] = [
            ("not json", "not valid JSON"),
            ("[1, 2]", "expected a JSON object"),
            (#"{"inter_token_times": []}"#, "missing string member 'kind'"),
            (#"{"kind": "batch"}"#, "unknown kind 'batch'"),
            (#"{"kind": "request", "ttft_deadline": 0.3, "tbt_deadline": 0.05, "target_deadline_miss_rate": 0.1}"#,
             "missing list member 'inter_token_times'"),
            (#"{"kind": "request", "inter_token_times": [0.1, "x"], "ttft_deadline": 0.3, "tbt_deadline": 0.05, "target_deadline_miss_rate": 0.1}"#,
             "inter_token_times[1] must be"),
            (#"{"kind": "request", "inter_token_times": [0.1, true], "ttft_deadline": 0.3, "tbt_deadline": 0.05, "target_deadline_miss_rate": 0.1}"#,
             "inter_token_times[1] must be"),
            (#"{"kind": "request", "inter_token_times": [0.1], "ttft_deadline": 0.3, "tbt_deadline": 0, "target_deadline_miss_rate": 0.1}"#,
             "'tbt_deadline' must be > 0.0"),
            (#"{"kind": "request", "inter_token_times": [0.1], "ttft_deadline": 0.3, "tbt_deadline": 0.05, "target_deadline_miss_rate": 2}"#,
             "'target_deadline_miss_rate' must be in 0.0...1.0"),
            (#"{"kind": "request", "inter_token_times": [0.1], "ttft_deadline": 0.3, "tbt_deadline": 0.05, "target_deadline_miss_rate": 0.1, "ignore_first_token": 1}"#,
             "'ignore_first_token' must be true or false"),
            (#"{"kind": "service", "requests": [[0.1], 3]}"#, "missing list member 'requests[1]'"),
        ]
        for (line, expected) in cases {
            XCTAssertThrowsError(try FluidityLines.evaluate(line), line) {
                XCTAssertTrue("\($0)".contains(expected), "\(line): got '\($0)', expected '\(expected)'")
            }
        }
    }
}

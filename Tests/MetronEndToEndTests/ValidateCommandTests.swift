import Foundation
import MetronTestSupport
import XCTest

final class ValidateCommandTests: XCTestCase {
    /// A clean environment plus `environment`.
    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        let r = try MetronBinary.run(arguments, environment: environment)
        return (r.status, r.stdout, r.stderr)
    }

    func write(_ text: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-\(UUID().uuidString).yaml")
        try text.write(to: url, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url.path
    }

    let good = """
        name: s
        systems:
          - name: a
            url: http://127.0.0.1:8000/v1
            api_key_env: METRON_TEST_KEY
        workloads:
          - name: w
        slos:
          - name: p99
            prefill_model: fixed
            ttft_deadline_s: 2
        """

    func testGoodFileExitsZero() throws {
        let path = try write(good)
        let r = try run(["validate", path], environment: ["METRON_TEST_KEY": "planted-secret-123"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("sweep 's' is valid: 1 system(s), 1 workload(s), 1 SLO(s)"), r.out)
        XCTAssertFalse(r.out.contains("planted-secret-123") || r.err.contains("planted-secret-123"))
    }

    func testProblemsExitTwoAndAreAllListed() throws {
        let path = try write(good.replacingOccurrences(of: "http://127.0.0.1:8000/v1", with: "\"127.0.0.1 8000\"")
            .replacingOccurrences(of: "ttft_deadline_s: 2", with: "ttft_deadline_s: 0"))
        let r = try run(["validate", path])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.err.contains("\(path):4:10: systems[0] ('a').url: '127.0.0.1 8000' is not a URL"), r.err)
        XCTAssertTrue(r.err.contains("\(path):5:18: systems[0] ('a').api_key_env: the environment variable METRON_TEST_KEY is not set"), r.err)
        XCTAssertTrue(r.err.contains("\(path):11:22: slos[0] ('p99').ttft_deadline_s: expected a number greater than 0, got 0"), r.err)
        XCTAssertTrue(r.err.contains("3 problems in \(path); nothing was run"), r.err)
    }

    func testIgnoreEnvironmentSkipsTheKeyCheck() throws {
        let r = try run(["validate", "--ignore-environment", try write(good)])
        XCTAssertEqual(r.status, 0, r.err)
    }

    func testMissingFileExitsTwo() throws {
        let r = try run(["validate", "/nonexistent/sweep.yaml"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.err.contains("/nonexistent/sweep.yaml:1:1: cannot read the sweep file"), r.err)
    }
}

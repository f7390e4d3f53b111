import Foundation
import MetronModel
import MetronSim
import MetronTestSupport
import XCTest

/// `metron run` against a port-0 simulator scrapes its `/metrics`: the server's TTFT histogram agrees
/// with the client's TTFTs within the client's error, and a metrics URL that fails never fails the run.
final class ServerMetricsRunTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("metron-server-metrics-\(UUID().uuidString)")
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func run(_ url: String, out: String, extra: [String] = []) throws -> MetronBinary.Result {
        try MetronBinary.run(["run", "--url", url, "--model", "llama-3-8b", "--rate", "10", "--duration", "5", "--warmup", "1",
                              "--seed", "3", "--ignore-eos", "--tokens-per-word", "1.3", "--out", dir.appendingPathComponent(out).path]
                             + extra)
    }

    func summary(_ out: String) throws -> [String: Any] {
        let data = try Data(contentsOf: dir.appendingPathComponent(out).appendingPathComponent("summary.json"))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func scrapes(_ out: String) throws -> [[String: Any]] {
        try String(contentsOf: dir.appendingPathComponent(out).appendingPathComponent("server_metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }

    func testServerTTFTMatchesTheClientsWithinItsError() async throws {
        let server = try await Harness.startSimulator()
        let result: MetronBinary.Result
        do { result = try run(server.url + "/v1", out: "ok") } catch {
            try await server.stop()
            throw error
        }
        try await server.stop()
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = try scrapes("ok")
        XCTAssertGreaterThanOrEqual(lines.count, 5, "about one scrape a second over 6 s")
        XCTAssertTrue(lines.allSatisfy { $0["error"] == nil && $0["server"] as? String == "vllm" })
        let times = lines.compactMap { $0["t"] as? Double }
        XCTAssertEqual(times, times.sorted())
        let s = try summary("ok")
        XCTAssertNotNil(s["server"] as? [String: Any])
        let comparison = try XCTUnwrap(s["server_ttft_comparison"] as? [String: Any], result.stdout)
        let offsets = try XCTUnwrap(comparison["offset_s"] as? [Double])
        let tolerances = try XCTUnwrap(comparison["tolerance_s"] as? [Double])
        let serverCount = try XCTUnwrap(comparison["server_requests"] as? Double)
        let clientCount = try XCTUnwrap(comparison["client_requests"] as? Int)
        print("server TTFT offsets \(offsets.map { $0 * 1000 }) ms, allowed \(tolerances.map { $0 * 1000 }) ms, "
              + "\(serverCount) server / \(clientCount) client requests")
        XCTAssertGreaterThan(clientCount, 40)
        XCTAssertLessThanOrEqual(abs(serverCount - Double(clientCount)), 2, "both sides count the same requests")
        for (offset, tolerance) in zip(offsets, tolerances) {
            XCTAssertLessThanOrEqual(abs(offset), tolerance, "server TTFT offset \(offset) s beyond \(tolerance) s")
        }
        XCTAssertTrue(result.stdout.contains("server TTFT against the client's: P50 server"), result.stdout)
    }

    func testAFailingMetricsURLIsRecordedAndTheRunGoesOn() async throws {
        let server = try await Harness.startSimulator()
        let results: [MetronBinary.Result]
        do {
            results = [
                try run(server.url, out: "missing", extra: ["--server-metrics-url", server.url + "/no-metrics-here"]),
                try run(server.url, out: "refused", extra: ["--server-metrics-url", "http://127.0.0.1:1/metrics"]),
                try run(server.url, out: "off", extra: ["--no-server-metrics"]),
            ]
        } catch {
            try await server.stop()
            throw error
        }
        try await server.stop()
        for r in results { XCTAssertEqual(r.status, 0, r.stderr) }
        let missing = try scrapes("missing")
        XCTAssertFalse(missing.isEmpty)
        XCTAssertTrue(missing.allSatisfy { ($0["error"] as? String)?.hasSuffix("answered HTTP 404") == true }, "\(missing.first ?? [:])")
        XCTAssertTrue(try scrapes("refused").allSatisfy { ($0["error"] as? String)?.contains("failed") == true })
        XCTAssertEqual((try summary("refused")["server"] as? [String: Any])?["failed_scrapes"] as? Int,
                       (try summary("refused")["server"] as? [String: Any])?["scrapes"] as? Int)
        XCTAssertNotNil(try summary("missing")["requests"] ?? summary("missing")["ttft"], "the client's summary is whole")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("off/server_metrics.jsonl").path))
        XCTAssertNil(try summary("off")["server"])
        let bad = try MetronBinary.run(["run", "--url", "http://127.0.0.1:9", "--model", "m", "--rate", "1", "--duration", "1",
                                        "--out", dir.appendingPathComponent("bad").path, "--server-metrics-url", "ftp://x"])
        XCTAssertEqual(bad.status, 64 == bad.status ? 64 : 2, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("--server-metrics-url must be an http:// or https:// URL"), bad.stderr)
    }
}

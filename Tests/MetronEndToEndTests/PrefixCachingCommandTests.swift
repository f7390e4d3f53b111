import Foundation
import MetronTestSupport
import XCTest

/// The prefix-caching switches of the command line: `--prefix-caching` on serve-sim,
/// `--sim-prefix-caching` on search and profile.
final class PrefixCachingCommandTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("metron-prefix-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    func testServeSimReportsCachedTokensWithPrefixCaching() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") else { throw XCTSkip("no curl") }
        let process = Process()
        process.executableURL = MetronBinary.url
        process.arguments = ["serve-sim", "--port", "0", "--prefix-caching"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = Pipe()
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        var line = Data()
        while let byte = try out.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) {
            line.append(byte)
        }
        let base = String(String(decoding: line, as: UTF8.self).dropFirst("listening on ".count))
        let prompt = (0..<64).map { "w\($0)" }.joined(separator: " ")
        var cached: [Int] = []
        for _ in 0..<2 {
            let curl = Process()
            curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            curl.arguments = ["-s", "-d", "{\"prompt\": \"\(prompt)\", \"max_tokens\": 2}", base + "/v1/completions"]
            let body = Pipe()
            curl.standardOutput = body
            try curl.run()
            let data = body.fileHandleForReading.readDataToEndOfFile()
            curl.waitUntilExit()
            let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let details = (json["usage"] as? [String: Any])?["prompt_tokens_details"] as? [String: Any]
            cached.append(try XCTUnwrap(details?["cached_tokens"] as? Int, String(decoding: data, as: UTF8.self)))
        }
        // 65 tokens: 4 full blocks, all reused by the second request.
        XCTAssertEqual(cached, [0, 64])
        process.terminate()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
    }

    func testAConfigWhosePrefixCachingIsNotABooleanIsRefused() throws {
        let file = directory.appendingPathComponent("sim.json")
        try Data(#"{"hardware": "H100", "model": "llama-3-8b", "prefix_caching": "yes"}"#.utf8).write(to: file)
        let result = try MetronBinary.run(["serve-sim", "--config", file.path])
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("prefix_caching"), result.stderr)
    }

    func testSearchAndProfileTakeTheSimulatorSwitch() throws {
        let results = directory.appendingPathComponent("results").path
        let search = try MetronBinary.run([
            "search", "--sim-hardware", "h100", "--sim-prefix-caching", "--simulate", "--prompt-length", "uniform:600:1024",
            "--shared-prefix", "4:512:0.9", "--output-length", "64", "--start-rate", "4", "--requests", "1",
            "--bracket-requests", "1", "--duration", "20", "--warmup", "2", "--ttft-deadline", "1", "--results", results,
            "--search-name", "cached",
        ])
        XCTAssertEqual(search.status, 0, search.stderr)
        XCTAssertTrue(FileManager.default.fileExists(
            atPath: directory.appendingPathComponent("results/cached-simulated/h100-80gb-llama-3-8b-tp1-vllm-prefix-caching").path),
            "the default name says the cache is on")

        let profile = try MetronBinary.run([
            "profile", "--sim-hardware", "h100", "--sim-prefix-caching", "--simulate", "--lengths", "256,1024,4096",
            "--out", directory.appendingPathComponent("prefill.json").path,
        ])
        XCTAssertEqual(profile.status, 0, profile.stderr)

        let server = try MetronBinary.run(["search", "--url", "http://127.0.0.1:1/v1", "--model", "m", "--sim-prefix-caching"])
        XCTAssertEqual(server.status, 2, server.stderr)
        XCTAssertTrue(server.stderr.contains("--sim-prefix-caching"), server.stderr)
    }
}

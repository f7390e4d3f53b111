import Foundation
import MetronTestSupport
import XCTest

/// `metron sweep`, `search` and `profile` end to end: the built binary, simulators on free ports.
final class SweepCommandTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("metron-sweep-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// Two fast simulated systems and probes of a second or two, so a whole sweep takes seconds.
    func writeSweep(budget: Int = 4, duration: Double = 1.5) throws -> String {
        let path = directory.appendingPathComponent("tiny.yaml").path
        try """
            name: tiny
            systems:
              - name: fast
                simulator: {hardware: h100, model: llama-3-8b, scheduler: sarathi}
                gpus: 1
                usd_per_hour: 3
              - name: slow
                simulator: {hardware: l40s, model: llama-3-8b, scheduler: vllm}
                gpus: 1
                usd_per_hour: 1
            workloads:
              - name: short
                prompt_tokens: 64
                output_tokens: 8
            slos:
              - name: p99
                prefill_model: fixed
                ttft_deadline_s: 0.5
                tbt_deadline_s: 0.1
            search: {start_rate: 10, probe_budget: \(budget), relative_ci_width: 0.5}
            probe: {requests: 1, bracket_requests: 1, duration_s: \(duration), warmup_s: 0.2, min_requests: 15, lag_threshold_s: 0.5}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    var results: String { directory.appendingPathComponent("results").path }
    var csv: URL { directory.appendingPathComponent("results/tiny/capacity.csv") }

    func testSweepOverHTTPThenARerunReusesEveryProbe() throws {
        let sweep = try writeSweep()
        let first = try MetronBinary.run(["sweep", sweep, "--results", results, "--no-plots"])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("max QPS"), first.stdout)
        let table = try String(contentsOf: csv, encoding: .utf8)
        XCTAssertTrue(table.hasPrefix("system,max_qps,ci_low,ci_high,output_tokens_per_s,gpus,usd_per_hour,qps_per_gpu,usd_per_million_output_tokens"))
        XCTAssertEqual(table.split(separator: "\n").count, 3, table)
        for system in ["fast", "slow"] {
            let search = directory.appendingPathComponent("results/tiny/\(system)/short/p99")
            let capacity = try XCTUnwrap(
                JSONSerialization.jsonObject(with: Data(contentsOf: search.appendingPathComponent("capacity.json"))) as? [String: Any])
            XCTAssertEqual(capacity["simulated"] as? Bool, false, "over HTTP, not virtual time")
            XCTAssertFalse(try XCTUnwrap(capacity["probes"] as? [Any]).isEmpty)
            let plots = try XCTUnwrap(
                JSONSerialization.jsonObject(with: Data(contentsOf: search.appendingPathComponent("plots.json"))) as? [String: Any])
            XCTAssertFalse(try XCTUnwrap(plots["fluidity"] as? [Any]).isEmpty)
        }
        let probes = first.stderr.components(separatedBy: "\n").filter { $0.contains(": rate-") }.count
        XCTAssertGreaterThan(probes, 1)

        let second = try MetronBinary.run(["sweep", sweep, "--results", results, "--no-plots"])
        XCTAssertEqual(second.status, 0, second.stderr)
        let reused = second.stderr.components(separatedBy: "\n").filter { $0.contains("reusing probe") }.count
        XCTAssertEqual(reused, probes, "every finished probe is reused:\n\(second.stderr)")
        XCTAssertFalse(second.stderr.contains("simulator ("), "no server is needed when every probe is cached")
        XCTAssertEqual(try String(contentsOf: csv, encoding: .utf8), table, "the same table")
    }

    private final class Output: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        func append(_ d: Data) { lock.lock(); data.append(d); lock.unlock() }
        var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: data, as: UTF8.self) }
    }

    /// Starts the command, waits until `ready` holds for its standard error so far, then sends
    /// `signal`; returns the exit status and the whole standard error.
    func interrupt(_ arguments: [String], with signal: Int32, when ready: (String) -> Bool) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = MetronBinary.url
        process.arguments = arguments
        let err = Pipe(), output = Output()
        err.fileHandleForReading.readabilityHandler = { output.append($0.availableData) }
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while !ready(output.text), process.isRunning, Date() < deadline { usleep(20_000) }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        err.fileHandleForReading.readabilityHandler = nil
        output.append(err.fileHandleForReading.readDataToEndOfFile())
        return (process.terminationStatus, output.text)
    }

    func completedProbes() -> [String] {
        let probes = directory.appendingPathComponent("results/tiny/fast/short/probes")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: probes.path)) ?? []
        return names.filter { FileManager.default.fileExists(atPath: probes.appendingPathComponent("\($0)/complete").path) }
    }

    func testAKilledSweepResumesWithEveryFinishedProbe() throws {
        let sweep = try writeSweep()
        let arguments = ["sweep", sweep, "--results", results, "--no-plots"]
        _ = try interrupt(arguments, with: SIGKILL) { _ in !completedProbes().isEmpty }
        let before = completedProbes()
        XCTAssertFalse(before.isEmpty)
        let probes = directory.appendingPathComponent("results/tiny/fast/short/probes")
        let names = try FileManager.default.contentsOfDirectory(atPath: probes.path)
        XCTAssertTrue(names.allSatisfy { !$0.hasPrefix(".") || $0.contains(".partial-") },
                      "only finished probes or temporary directories: \(names)")

        let rerun = try MetronBinary.run(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.stderr)
        for name in before { XCTAssertTrue(rerun.stderr.contains("reusing probe \(name)"), "\(name) not reused:\n\(rerun.stderr)") }
        let again = try MetronBinary.run(arguments)
        XCTAssertEqual(try String(contentsOf: csv, encoding: .utf8).count > 0, true)
        XCTAssertFalse(again.stderr.contains("simulator ("), "the rerun of a finished sweep measures nothing")
    }

    func testCtrlCKeepsTheProbeInProgressAsIncomplete() throws {
        let sweep = try writeSweep(duration: 6)
        var started: Date?
        let (status, stderr) = try interrupt(["sweep", sweep, "--results", results, "--no-plots"], with: SIGINT) { text in
            // A second into the first probe (it lasts over 6 s).
            if started == nil, text.contains("fast/short/p99: searching") { started = Date() }
            return started.map { Date().timeIntervalSince($0) > 1 } ?? false
        }
        XCTAssertEqual(status, 130, stderr)
        XCTAssertTrue(stderr.contains("marked incomplete, never reused"), stderr)
        let probes = directory.appendingPathComponent("results/tiny/fast/short/probes")
        let incomplete = try FileManager.default.contentsOfDirectory(atPath: probes.path).filter { $0.hasSuffix(".incomplete") }
        XCTAssertEqual(incomplete.count, 1)
        let kept = probes.appendingPathComponent(try XCTUnwrap(incomplete.first))
        XCTAssertTrue(FileManager.default.fileExists(atPath: kept.appendingPathComponent("requests.jsonl").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: kept.appendingPathComponent("complete").path))
        XCTAssertTrue(completedProbes().isEmpty, "the interrupted probe is not taken as finished")
    }

    func testAModelTheServerDoesNotKnowStopsTheSweepBeforeAnyProbe() throws {
        let server = Process()
        server.executableURL = MetronBinary.url
        server.arguments = ["serve-sim", "--hardware", "h100", "--model", "llama-3-8b", "--port", "0"]
        let out = Pipe()
        server.standardOutput = out
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { server.terminate(); server.waitUntilExit() }
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let byte = out.fileHandleForReading.readData(ofLength: 1)
            guard !byte.isEmpty else { break }
            line.append(byte)
        }
        let url = try XCTUnwrap(String(decoding: line, as: UTF8.self).split(separator: " ").last.map(String.init))
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let sweep = directory.appendingPathComponent("wrong-model.yaml").path
        try """
            name: wrong
            systems:
              - {name: server, url: "\(url)", model: gpt-9}
            workloads:
              - {name: w, prompt_tokens: 64, output_tokens: 8}
            slos:
              - {name: p99, prefill_model: fixed, ttft_deadline_s: 1}
            """.write(toFile: sweep, atomically: true, encoding: .utf8)
        let result = try MetronBinary.run(["sweep", sweep, "--results", results, "--no-plots"])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("gpt-9"), result.stderr)
        XCTAssertFalse(result.stderr.contains(": rate-"), "no probe ran:\n\(result.stderr)")
    }

    func testSearchAndProfileInVirtualTime() throws {
        let search = try MetronBinary.run([
            "search", "--sim-hardware", "h100", "--scheduler", "sarathi", "--simulate", "--prompt-length", "uniform:128:1024",
            "--output-length", "64", "--start-rate", "4", "--requests", "1", "--bracket-requests", "1", "--duration", "20", "--warmup", "2", "--ttft-deadline", "1",
            "--results", results, "--search-name", "what-if",
        ])
        XCTAssertEqual(search.status, 0, search.stderr)
        XCTAssertTrue(search.stderr.contains("SIMULATED"), search.stderr)
        XCTAssertTrue(search.stdout.contains("max sustainable QPS") || search.stdout.contains("capacity not determined"), search.stdout)
        XCTAssertTrue(search.stderr.contains(" requests near capacity ("), "the plan is said up front: \(search.stderr)")
        let capacity = directory.appendingPathComponent("results/what-if-simulated/h100-80gb-llama-3-8b-tp1-sarathi/workload/p99-fluidity/capacity.json")
        let recorded = try JSONSerialization.jsonObject(with: Data(contentsOf: capacity)) as? [String: Any]
        let settings = try XCTUnwrap(recorded?["settings"] as? [String: Any], "\(recorded ?? [:])")
        XCTAssertEqual(settings["paired_plans"] as? Int, 0, "one system is paired with nothing: \(settings)")

        let model = directory.appendingPathComponent("prefill.json").path
        let profile = try MetronBinary.run(["profile", "--sim-hardware", "a100", "--simulate", "--lengths", "256,1024,4096", "--out", model])
        XCTAssertEqual(profile.status, 0, profile.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: model))

        for bad in [["search"], ["search", "--url", "http://x", "--sim-hardware", "h100"], ["search", "--sim-hardware", "b300"],
                    ["search", "--sim-hardware", "h100", "--percentile", "100"], ["profile", "--sim-hardware", "h100", "--lengths", "1,2"]] {
            let r = try MetronBinary.run(bad)
            XCTAssertEqual(r.status, 2, "\(bad): \(r.stderr)")
            XCTAssertFalse(r.stderr.isEmpty)
        }
    }
}

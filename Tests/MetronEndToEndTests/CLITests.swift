import Foundation
import MetronModel
import MetronReport
import MetronSim
import MetronSimModel
import MetronTestSupport
import Synchronization
import XCTest

/// Runs the built `metron` binary end to end against the scripted server.
final class CLITests: XCTestCase {
    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    private var binary: URL { MetronBinary.url }

    /// `shell`, when given, runs first in bash (for example `ulimit -n 48`), which then execs the binary.
    private func metron(_ arguments: [String], environment: [String: String] = [:], shell: String? = nil,
                        whileRunning: (@Sendable (Process) async -> Void)? = nil) async throws -> Outcome {
        let process = Process()
        if let shell {
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = ["-c", shell + #" && exec "$0" "$@""#, binary.path] + arguments
        } else {
            process.executableURL = binary
            process.arguments = arguments
        }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read on other threads so a full pipe cannot stall the child.
        async let stdout = Task.detached { out.fileHandleForReading.readDataToEndOfFile() }.value
        async let stderr = Task.detached { err.fileHandleForReading.readDataToEndOfFile() }.value
        await whileRunning?(process)
        let (o, e) = await (stdout, stderr)
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                       stderr: String(decoding: e, as: UTF8.self))
    }

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("metron-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// The simulator reasons for 3 of each answer's 6 tokens over chat; the run records them, judges
    /// the visible view, and the report re-judges the run in the default view.
    func testRunRecordsTheSimulatorsReasoningAndReportsBothViews() async throws {
        let config = SimulatorConfig(hardware: .h100, model: .llama3_8b, seed: 3, reasoningTokens: .fixed(3))
        let server = try await SimulatorServer.start(SimulatorServerOptions(simulator: config))
        let out = try temporaryDirectory().appendingPathComponent("run")
        let result = try await metron([
            "run", "--url", server.url, "--model", "llama-3-8b", "--api", "chat", "--rate", "20", "--duration", "0.5",
            "--arrival", "constant", "--prompt-length", "32", "--output-length", "6", "--tokens-per-word", "1.3",
            "--fluidity-tokens", "visible", "--out", out.path,
        ])
        try await server.stop()
        XCTAssertEqual(result.status, 0, result.stderr)
        let records = try RunDirectory.readRecords(from: out)
        XCTAssertEqual(records.count, 10)
        for r in records {
            XCTAssertEqual(r.status, .ok, r.error ?? "")
            XCTAssertEqual(r.chunkTokens, [1, 1, 1, 1, 1, 1])
            XCTAssertEqual(r.chunkReasoningTokens, [1, 1, 1, 0, 0, 0])
            XCTAssertEqual(r.firstOutputS, r.chunkTimesS[3])
        }
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: out.appendingPathComponent("summary.json")))
        XCTAssertEqual(summary.fluidity.tokens, .visible)
        XCTAssertEqual(summary.reasoning?.tokens, 30)
        XCTAssertEqual(summary.ttfot?.count, 10)
        XCTAssertGreaterThan(try XCTUnwrap(summary.ttfot?.p50), try XCTUnwrap(summary.ttft.p50))
        XCTAssertEqual(summary.fluidity.serviceDeadlines.total, 20, "two deadlines after each first visible token")
        XCTAssertTrue(result.stdout.contains("visible tokens only"), result.stdout)

        let all = try await metron(["report", out.path, "--fluidity-tokens", "all", "--json"])
        XCTAssertEqual(all.status, 0, all.stderr)
        let rejudged = try JSONDecoder().decode(RunSummary.self, from: Data(all.stdout.utf8))
        XCTAssertNil(rejudged.fluidity.tokens)
        XCTAssertEqual(rejudged.fluidity.serviceDeadlines.total - rejudged.fluidity.serviceDeadlines.missed, 60,
                       "every one of the 60 streamed tokens met its deadline, reasoning included")
    }

    /// Sessions of 3 turns against the prefix-caching simulator: records carry session and turn, later
    /// turns find the conversation before them in the cache, and the summary reports each turn index.
    func testASessionRunReportsEachTurnAndReusesTheConversation() async throws {
        let config = SimulatorConfig(hardware: .h100, model: .llama3_8b, seed: 3, prefixCaching: true)
        let server = try await SimulatorServer.start(SimulatorServerOptions(simulator: config))
        let out = try temporaryDirectory().appendingPathComponent("run")
        let result = try await metron([
            "run", "--url", server.url, "--model", "llama-3-8b", "--api", "chat", "--rate", "4", "--duration", "1",
            "--arrival", "constant", "--prompt-length", "200", "--output-length", "8", "--tokens-per-word", "1.3",
            "--turns", "3", "--think-time", "0.1", "--out", out.path,
        ])
        try await server.stop()
        XCTAssertEqual(result.status, 0, result.stderr)
        let records = try RunDirectory.readRecords(from: out)
        XCTAssertEqual(records.count, 12)
        XCTAssertEqual(records.map(\.status), Array(repeating: .ok, count: 12), records.compactMap(\.error).first ?? "")
        XCTAssertEqual(records.map(\.turn), [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])
        XCTAssertEqual(records.map(\.session), [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
        for r in records where r.turn ?? 0 > 0 {
            XCTAssertGreaterThan(r.cachedPromptTokens ?? 0, 150, "turn \(r.turn!) of session \(r.session!) reuses the turn before")
        }
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: out.appendingPathComponent("summary.json")))
        let sessions = try XCTUnwrap(summary.sessions)
        XCTAssertEqual(sessions.sessions, 4)
        XCTAssertEqual(sessions.requestsPerSession, 3)
        XCTAssertEqual(sessions.offeredRate ?? 0, 4, accuracy: 1e-6)
        XCTAssertEqual(sessions.turns.map(\.requests), [4, 4, 4])
        let prompts = sessions.turns.compactMap(\.promptTokens.mean)
        XCTAssertEqual(prompts.count, 3)
        XCTAssertTrue(zip(prompts, prompts.dropFirst()).allSatisfy { $0 + 150 < $1 }, "prompts grow turn by turn: \(prompts)")
        XCTAssertTrue(result.stdout.contains("target 4.000 sessions/s"), result.stdout)
        XCTAssertTrue(result.stdout.contains("sessions  4 opened"), result.stdout)
    }

    func testVisibleFluidityTokensNeedAnAPIThatStreamsReasoningApart() async throws {
        let run = try await metron([
            "run", "--url", "http://127.0.0.1:9/v1", "--model", "m", "--rate", "1", "--duration", "1",
            "--fluidity-tokens", "visible", "--out", try temporaryDirectory().appendingPathComponent("run").path,
        ])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("--fluidity-tokens visible needs --api chat: the completions API does not stream reasoning"), run.stderr)
        let search = try await metron(["search", "--sim-hardware", "H100", "--fluidity-tokens", "visible", "--simulate"])
        XCTAssertNotEqual(search.status, 0)
        XCTAssertTrue(search.stderr.contains("--fluidity-tokens visible needs --sim-reasoning-tokens"), search.stderr)
        let bad = try await metron(["run", "--url", "http://127.0.0.1:9/v1", "--model", "m", "--rate", "1", "--duration", "1",
                                    "--fluidity-tokens", "answer"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--fluidity-tokens"), bad.stderr)
        let sim = try await metron(["serve-sim", "--reasoning-tokens", "uniform:-2:5"])
        XCTAssertEqual(sim.status, 2)
        XCTAssertTrue(sim.stderr.contains("--reasoning-tokens uniform:-2:5: '-2' is not a whole number >= 0"), sim.stderr)
        let wrongSystem = try await metron(["search", "--url", "http://127.0.0.1:9/v1", "--model", "m", "--sim-reasoning-tokens", "4"])
        XCTAssertNotEqual(wrongSystem.status, 0)
        XCTAssertTrue(wrongSystem.stderr.contains("--sim-reasoning-tokens applies to the simulator"), wrongSystem.stderr)
    }

    func testRunWritesRecordsSummaryAndSettingsAndReportRecomputesThem() async throws {
        let secret = "sk-do-not-leak-4711"
        let server = try await ScriptedServer { request in
            if request.path == "/tokenize" { return ScriptedServer.json(status: 404, "{}") }
            let words = ((request.json["prompt"] as? String) ?? "").split(separator: " ").count
            let fails = requestID(request) == 3
            if fails { return ScriptedServer.json(status: 503, #"{"error":"overloaded"}"#) }
            let output = request.json["max_tokens"] as? Int ?? 1
            return ScriptedServer.stream(
                Array(repeating: Events.text(), count: output) + [Events.usage(prompt: words + 3, completion: output), Events.done])
        }
        let out = try temporaryDirectory().appendingPathComponent("run")
        let result = try await metron([
            "run", "--url", server.url, "--model", "m", "--rate", "10", "--duration", "1", "--warmup", "0.5",
            "--arrival", "constant", "--prompt-length", "uniform:40:80", "--output-length", "3",
            "--api-key-env", "METRON_TEST_KEY", "--header", "X-Run: cli", "--ttft-deadline", "0.5", "--out", out.path,
        ], environment: ["METRON_TEST_KEY": secret])
        let requests = server.requests
        await server.shutdown()
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("requests  10"), result.stdout)
        XCTAssertTrue(result.stderr.contains("prompt calibration usage"), result.stderr)

        let records = try RunDirectory.readRecords(from: out)
        XCTAssertEqual(records.count, 15, "warm-up requests are recorded too")
        XCTAssertEqual(records.filter { $0.status == .httpError }.map(\.id), [3])
        for r in records where r.status == .ok {
            XCTAssertEqual(r.chunkTokens, [1, 1, 1])
            XCTAssertEqual(Double(r.promptTokens ?? 0), Double(r.requestedPromptTokens), accuracy: 3, "calibrated prompt lengths")
        }
        let summaryData = try Data(contentsOf: out.appendingPathComponent("summary.json"))
        let summary = try JSONDecoder().decode(RunSummary.self, from: summaryData)
        XCTAssertEqual(summary.requests, 10, "the warm-up is left out of the summary")
        XCTAssertEqual(summary.targetRate, 10)
        XCTAssertEqual(summary.fluidity.ttftDeadline, "fixed D_p = 0.5 s")

        let settings = try RunDirectory.readSettings(from: out)
        XCTAssertEqual(settings.warmupS, 0.5)
        XCTAssertEqual(settings.headerNames, ["X-Run"])
        XCTAssertFalse(settings.timerLatenessS.isEmpty)
        for name in ["requests.jsonl", "summary.json", "run.json", "server_metrics.jsonl"] {
            let text = try String(contentsOf: out.appendingPathComponent(name), encoding: .utf8)
            XCTAssertFalse(text.contains(secret), "\(name) must not hold the API key")
        }
        XCTAssertFalse(result.stdout.contains(secret) || result.stderr.contains(secret))
        XCTAssertTrue(requests.filter { $0.path == "/v1/completions" && ($0.json["max_tokens"] as? Int) == 3 }
            .allSatisfy { $0.headers["authorization"] == "Bearer \(secret)" && $0.headers["x-run"] == "cli" })
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path).sorted(),
                       ["requests.bin", "requests.jsonl", "run.json", "server_metrics.jsonl", "summary.json"], "no temporary files left")

        let report = try await metron(["report", out.path, "--json"])
        XCTAssertEqual(report.status, 0, report.stderr)
        let recomputed = try JSONDecoder().decode(RunSummary.self, from: Data(report.stdout.utf8))
        XCTAssertEqual(recomputed, summary)

        let stricter = try await metron(["report", out.path, "--json", "--ttft-deadline", "0.000001"])
        let strict = try JSONDecoder().decode(RunSummary.self, from: Data(stricter.stdout.utf8))
        XCTAssertLessThan(strict.fluidity.mean ?? 1, summary.fluidity.mean ?? 0)
    }

    func testTraceArrivalsAndLengthsWithScaleAndMaximum() async throws {
        let dir = try temporaryDirectory()
        let trace = dir.appendingPathComponent("trace.csv")
        try """
            num_prefill_tokens,num_decode_tokens,num_total_tokens,pd_ratio,arrived_at
            30,2,32,15,0.0
            40,3,43,13.3,0.05
            5000,4,5004,1250,0.125
            20,5,25,4,0.3125
            """.write(to: trace, atomically: true, encoding: .utf8)
        let server = try await ScriptedServer { request in
            let output = request.json["max_tokens"] as? Int ?? 1
            return ScriptedServer.stream(Array(repeating: Events.text(), count: output) + [Events.done])
        }
        let out = dir.appendingPathComponent("run")
        let result = try await metron([
            "run", "--url", server.url, "--model", "m", "--duration", "1", "--arrival", "trace", "--trace", trace.path,
            "--output-scale", "2", "--max-total-tokens", "1000", "--tokens-per-word", "1", "--out", out.path,
        ])
        await server.shutdown()
        XCTAssertEqual(result.status, 0, result.stderr)
        let records = try RunDirectory.readRecords(from: out)
        // Replayed at its own pace, sub-second offsets kept; it repeats after one mean gap to fill the duration.
        let period = 0.3125 * 4 / 3
        let expected = [0, 0.05, 0.125, 0.3125].flatMap { t in [t, period + t, 2 * period + t] }.filter { $0 < 1 }.sorted()
        XCTAssertEqual(records.count, expected.count)
        for (got, want) in zip(records.map(\.scheduledS), expected) { XCTAssertEqual(got, want, accuracy: 1e-9) }
        XCTAssertTrue(records.allSatisfy { $0.status == .ok })
        XCTAssertTrue(records.allSatisfy { $0.requestedPromptTokens != 5000 }, "the row over the maximum is skipped")
        XCTAssertTrue(records.allSatisfy { [4, 6, 10].contains($0.requestedOutputTokens) }, "output lengths doubled")
        XCTAssertTrue(records.allSatisfy { $0.chunkTokens.reduce(0, +) == $0.requestedOutputTokens })
    }

    func testInterruptWritesEveryRecordAndExits130() async throws {
        let server = try await ScriptedServer { _ in [ScriptedServer.head(), ScriptedServer.chunk(Events.role), .sleep(30)] }
        let out = try temporaryDirectory().appendingPathComponent("run")
        let result = try await metron([
            "run", "--url", server.url, "--model", "m", "--rate", "2", "--duration", "30", "--arrival", "constant",
            "--tokens-per-word", "1", "--out", out.path,
        ], whileRunning: { process in
            // Interrupt once the first request has reached the server (its /metrics is read before it).
            for _ in 0..<200 where !server.requests.contains(where: { $0.path == "/v1/completions" }) {
                try? await Task.sleep(nanoseconds: 50_000_000)
            }
            process.interrupt()
        })
        await server.shutdown()
        XCTAssertEqual(result.status, 130, result.stderr)
        XCTAssertTrue(result.stderr.contains("interrupted"), result.stderr)
        let records = try RunDirectory.readRecords(from: out)
        XCTAssertEqual(records.count, 60, "every planned request has a record")
        XCTAssertTrue(records.allSatisfy { $0.status == .cancelled })
        XCTAssertNotNil(try records.element(at: 0).sentS)
        XCTAssertNil(try records.element(at: 59).sentS)
    }

    func testRecordsReachTheFileAsTheyFinishAndSurviveKill9() async throws {
        let server = try await ScriptedServer { request in
            ScriptedServer.stream([Events.text(), Events.text(), Events.usage(prompt: 4, completion: 2), Events.done])
        }
        let out = try temporaryDirectory().appendingPathComponent("run")
        let killedAt = Mutex(0.0)
        let result = try await metron([
            "run", "--url", server.url, "--model", "m", "--rate", "20", "--duration", "60", "--arrival", "constant",
            "--output-length", "2", "--tokens-per-word", "1", "--out", out.path,
        ], whileRunning: { process in
            // About two seconds of answered requests, then kill -9 mid-run.
            for _ in 0..<400 where server.requests.count < 40 { try? await Task.sleep(nanoseconds: 25_000_000) }
            killedAt.withLock { $0 = ProcessInfo.processInfo.systemUptime }
            kill(process.processIdentifier, SIGKILL)
        })
        let requests = server.requests
        await server.shutdown()
        XCTAssertEqual(result.status, SIGKILL, "killed, not finished: \(result.stderr)")
        XCTAssertGreaterThanOrEqual(requests.count, 40)

        // Every request answered more than a second before the kill has its record on disk.
        let records = try RunDirectory.readRecords(from: out)
        let cutoff = killedAt.withLock { $0 } - 1
        let answeredBefore = Set(requests.filter { $0.receivedAt < cutoff }.compactMap(requestID))
        XCTAssertFalse(answeredBefore.isEmpty)
        XCTAssertTrue(answeredBefore.isSubset(of: Set(records.map(\.id))),
                      "missing: \(answeredBefore.subtracting(records.map(\.id)).sorted())")
        XCTAssertTrue(records.allSatisfy { $0.status == .ok && $0.chunkTokens == [1, 1] })
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("summary.json").path))

        // `metron report` summarises what the killed run left, an interrupted last line included.
        let file = out.appendingPathComponent("requests.jsonl")
        let handle = try FileHandle(forWritingTo: file)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"id":100000,"scheduled_s":5.0,"sent_s":5.0"#.utf8))
        try handle.close()
        let report = try await metron(["report", out.path, "--json"])
        XCTAssertEqual(report.status, 0, report.stderr)
        XCTAssertTrue(report.stderr.contains("requests.jsonl:\(records.count + 1): the last line is incomplete"), report.stderr)
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(report.stdout.utf8))
        XCTAssertEqual(summary.requests, records.count)
        XCTAssertEqual(summary.ok, records.count)
    }

    /// Every stream stays open a second, so about 50 are open at once at 50 req/s.
    private func slowStreamServer() async throws -> ScriptedServer {
        try await ScriptedServer { _ in
            [ScriptedServer.head(), ScriptedServer.chunk(Events.text()), .sleep(1), ScriptedServer.chunk(Events.text()),
             ScriptedServer.chunk(Events.usage(prompt: 4, completion: 2) + Events.done), ScriptedServer.lastChunk]
        }
    }

    private let loadArguments = ["--rate", "50", "--duration", "2", "--arrival", "constant", "--output-length", "2",
                                 "--tokens-per-word", "1"]

    func testRunningOutOfFileDescriptorsIsAClientFaultNotAServerError() async throws {
        let server = try await slowStreamServer()
        let out = try temporaryDirectory().appendingPathComponent("run")
        // Soft and hard limit both 48: nothing to raise, the client runs out of descriptors.
        let result = try await metron(["run", "--url", server.url, "--model", "m", "--out", out.path] + loadArguments,
                                      shell: "ulimit -n 48")
        // The completions only: the run also asks the server about itself (provenance).
        let served = server.requests.filter { $0.path.hasSuffix("/completions") }.count
        await server.shutdown()
        XCTAssertEqual(result.status, 0, result.stderr)
        let records = try RunDirectory.readRecords(from: out)
        XCTAssertEqual(records.count, 100)
        let faulted = records.filter { $0.status == .clientError }
        XCTAssertFalse(faulted.isEmpty, "\(Dictionary(grouping: records, by: \.status).mapValues(\.count))")
        XCTAssertTrue(faulted.allSatisfy { $0.error?.hasPrefix("could not open a socket (EMFILE") == true }, "\(faulted.first?.error ?? "")")
        XCTAssertFalse(records.contains { $0.status == .connectionError }, "no descriptor is not a refused connection")
        XCTAssertEqual(records.filter { $0.status == .ok }.count, served, "every request that reached the server succeeded")

        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: out.appendingPathComponent("summary.json")))
        XCTAssertFalse(summary.client.trustworthy)
        XCTAssertEqual(summary.client.faults?.requests, faulted.count)
        let reason = "client fault: \(faulted.count) of 100 requests could not open a socket (EMFILE: Too many open files)"
        // (A busy machine may add a lag reason; the fault is there whatever the timing.)
        XCTAssertEqual(summary.client.untrustworthyReasons?.filter { $0.hasPrefix("client fault") }, [reason])
        XCTAssertTrue(result.stdout.contains("NOT TRUSTWORTHY: \(reason)"), result.stdout)
    }

    func testTheOpenFilesSoftLimitIsRaisedToTheHardLimit() async throws {
        let server = try await slowStreamServer()
        let out = try temporaryDirectory().appendingPathComponent("run")
        // Only the soft limit is low: the client raises it and needs no more.
        let result = try await metron(["run", "--url", server.url, "--model", "m", "--out", out.path] + loadArguments,
                                      shell: "ulimit -S -n 48")
        await server.shutdown()
        XCTAssertEqual(result.status, 0, result.stderr)
        let records = try RunDirectory.readRecords(from: out)
        XCTAssertEqual(records.count, 100)
        XCTAssertTrue(records.allSatisfy { $0.status == .ok }, "\(records.first { $0.status != .ok }?.error ?? "")")
        XCTAssertTrue(result.stdout.contains("timing trustworthy") || result.stdout.contains("NOT TRUSTWORTHY: P99"),
                      "no client fault: \(result.stdout)")
    }

    func testBadUsageExitsWithStatusTwoAndSaysWhat() async throws {
        var cases: [([String], String)] = [
            (["run", "--url", "http://h", "--model", "m", "--rate", "-1", "--duration", "1", "--out", "x"], "--rate"),
            (["run", "--url", "ftp://h", "--model", "m", "--rate", "1", "--duration", "1", "--out", "x"], "--url"),
            (["run", "--url", "http://h", "--model", "m", "--rate", "1", "--duration", "1", "--out", "x",
              "--prompt-length", "uniform:9:3"], "MIN is above MAX"),
            (["run", "--url", "http://h", "--model", "m", "--rate", "1", "--duration", "1", "--out", "x",
              "--extra-body", "[1]"], "--extra-body"),
            (["run", "--url", "http://h", "--model", "m", "--rate", "1", "--duration", "1", "--out", "x",
              "--api-key-env", "METRON_SURELY_UNSET_VARIABLE"], "METRON_SURELY_UNSET_VARIABLE"),
            (["run", "--url", "http://h", "--model", "m", "--duration", "1", "--out", "x"], "--rate is required"),
            (["run", "--model", "m", "--rate", "1", "--duration", "1", "--out", "x"], "--url"),
            (["report", "/nonexistent/metron-dir"], "no such directory"),
            (["run", "--url", "http://h", "--model", "m", "--duration", "1", "--out", "x", "--arrival", "trace"],
             "--arrival trace needs --trace"),
            (["run", "--url", "http://h", "--model", "m", "--rate", "1", "--duration", "1", "--out", "x",
              "--arrival", "trace", "--trace", "/dev/null"], "--rate does not apply"),
            (["run", "--url", "http://h", "--model", "m", "--rate", "1", "--duration", "1", "--out", "x", "--cv", "2"],
             "--cv applies only to --arrival gamma"),
            (["run", "--url", "http://h", "--model", "m", "--rate", "1", "--duration", "1", "--out", "x",
              "--header", "broken"], "--header"),
            (["run", "--url", "http://h", "--model", "m", "--rate", "1", "--duration", "1", "--out", "x",
              "--shared-prefix", "4:256:1.5"], "--shared-prefix: invalid workload: shared prefix '4:256:1.5': fraction must be between 0 and 1"),
            (["run", "--url", "http://h", "--model", "m", "--rate", "1", "--duration", "1", "--out", "x",
              "--shared-prefix", "4:256"], "a shared prefix is COUNT:TOKENS:FRACTION"),
            (["search", "--sim-hardware", "h100", "--shared-prefix", "4:1024:0.5"],
             "--shared-prefix: a prefix of 1024 tokens does not fit in the shortest prompt (512 tokens, --prompt-length fixed:512)"),
            (["run", "--url", "http://h", "--model", "m", "--rate", "1", "--duration", "1", "--out", "x", "--turns", "3"],
             "--turns: a session's turns carry the conversation as chat messages; add --api chat"),
            (["run", "--url", "http://h", "--model", "m", "--rate", "1", "--duration", "1", "--out", "x", "--api", "chat",
              "--think-time", "2"], "--think-time applies only to sessions: add --turns"),
            (["run", "--url", "http://h", "--model", "m", "--rate", "1", "--duration", "1", "--out", "x", "--api", "chat",
              "--turns", "3", "--think-time=-1"], "--think-time: invalid workload: think time '-1': a think time must be zero or more seconds"),
            (["run", "--url", "http://h", "--model", "m", "--rate", "1", "--duration", "1", "--out", "x", "--api", "chat",
              "--turns", "uniform:0:3"], "--turns"),
            (["search", "--url", "http://h", "--model", "m", "--turns", "3"],
             "--turns: a session's turns carry the conversation as chat messages; add --api chat"),
        ]
        let used = try temporaryDirectory()
        try Data().write(to: used.appendingPathComponent("requests.jsonl"))
        cases.append((["run", "--url", "http://h", "--model", "m", "--rate", "1", "--duration", "1", "--out", used.path],
                      "already holds a run"))
        for (arguments, expected) in cases {
            let result = try await metron(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
        }
    }

    func testTheSrunLauncherRefusesWhatItCannotRun() async throws {
        let search = ["search", "--sim-hardware", "h100"]
        let inside = ["SLURM_JOB_ID": "41", "SLURM_NTASKS": ""]
        let cases: [([String], [String: String], String)] = [
            (search + ["--clients", "2"], [:], "--clients goes with --launcher srun"),
            (search + ["--launcher", "mpirun"], [:], "--launcher"),
            (search + ["--launcher", "srun", "--clients", "2"], ["SLURM_JOB_ID": ""],
             "--launcher srun runs inside a Slurm allocation (sbatch or salloc); SLURM_JOB_ID is not set"),
            (search + ["--launcher", "srun", "--clients", "2", "--simulate"], inside, "--simulate measures in virtual time"),
            (search + ["--launcher", "srun", "--clients", "0"], inside, "--clients must be at least 1, got 0"),
            (search + ["--launcher", "srun"], inside, "--launcher srun needs --clients N: the allocation gives no SLURM_NTASKS"),
            (["sweep", "sweeps/quickstart.yaml", "--collect", "--launcher", "srun", "--clients", "2"], inside,
             "--collect measures nothing; it takes no --launcher"),
        ]
        for (arguments, environment, expected) in cases {
            let result = try await metron(arguments, environment: environment)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
        }
    }

    func testReportNamesTheBadLine() async throws {
        let dir = try temporaryDirectory()
        let settings = RunSettings(
            url: "http://u:p@h", api: "completions", model: "m", targetRate: 1, durationS: 1, warmupS: 0, seed: 1,
            workload: "w", maxInFlight: nil, timeouts: [:], drainTimeoutS: 1, ttftDeadlineS: 0.3, tbtDeadlineS: 0.03,
            lagThresholdS: 0.01, promptCalibration: "given", tokensPerWord: 1, overheadTokens: 0, realtime: false,
            headerNames: [], startedAt: "now", timerLatenessS: [])
        XCTAssertEqual(settings.url, "http://h", "credentials in the URL are not kept")
        let record = RequestRecord(id: 0, scheduledS: 0, sentS: 0, chunkTimesS: [0.1], chunkTokens: [1])
        try RunDirectory.write(records: [record], summary: settings.summary(of: [record]), settings: settings, to: dir)
        let path = dir.appendingPathComponent("requests.jsonl")
        let good = try String(contentsOf: path, encoding: .utf8)
        try (good + "{\"id\": 1}\n").write(to: path, atomically: true, encoding: .utf8)
        let result = try await metron(["report", dir.path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("requests.jsonl:2"), result.stderr)
    }
}

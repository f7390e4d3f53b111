import Foundation
import MetronModel
import MetronLoad
import MetronReport
import MetronSearch
import MetronSweep
import MetronTestSupport
import MetronSimModel
import XCTest

/// Every setting that changes what a probe's records mean is part of its identity, and a system
/// name stands for one system.
final class ProbeIdentityTests: XCTestCase {
    static let server = SystemSpec(name: "srv", kind: .server(ServerSpec(
        url: URL(string: "http://user:secret@127.0.0.1:8000/v1")!, model: "llama", api: .completions,
        shape: RequestShape(ignoreEOS: true))))
    static let sweep = SweepFile(name: "s", systems: [server], workloads: [WorkloadEntry(name: "w", spec: WorkloadSpec())],
                                 slos: [SLOSpec(name: "p99", kind: .fluidity(percentile: 99, target: 0.9),
                                                ttftDeadline: .fixed(1), tbtDeadlineS: 0.03, maxErrorRate: 0.01)])
    static let load = LoadOptions()

    static func identity(
        system: SystemSpec = server, workload: WorkloadSpec = WorkloadSpec(), sweep: SweepFile = sweep,
        measurement: MeasurementMode = .http(load)
    ) -> ProbeIdentity {
        ProbeIdentity(system: system, workload: workload, sweep: sweep, measurement: measurement)
    }

    /// Changes one setting and expects exactly that key to be named.
    func assertNamed(_ key: String, _ changed: ProbeIdentity, file: StaticString = #filePath, line: UInt = #line) {
        let differences = changed.differences(from: Self.identity())
        XCTAssertEqual(differences.map { String($0.prefix { $0 != " " }) }, [key], "\(differences)", file: file, line: line)
    }

    func changedServer(_ change: (inout ServerSpec) -> Void) -> SystemSpec {
        guard case var .server(e) = Self.server.kind else { fatalError("expected a server system") }
        change(&e)
        return SystemSpec(name: "srv", kind: .server(e))
    }

    func testEachTargetSettingIsNamed() {
        assertNamed("url", Self.identity(system: changedServer { $0.url = URL(string: "http://127.0.0.1:8001/v1")! }))
        assertNamed("model", Self.identity(system: changedServer { $0.model = "llama-70b" }))
        assertNamed("api", Self.identity(system: changedServer { $0.api = .chat }))
        assertNamed("ignore_eos", Self.identity(system: changedServer { $0.shape.ignoreEOS = false }))
        assertNamed("min_tokens", Self.identity(system: changedServer { $0.shape.minTokens = true }))
        assertNamed("extra_body", Self.identity(system: changedServer { $0.shape.extraBody = #"{"top_p": 0.5}"# }))
        // A new key or password is the same server.
        XCTAssertEqual(Self.identity(system: changedServer { $0.apiKeyEnv = "KEY"; $0.url = URL(string: "http://u:other@127.0.0.1:8000/v1")! }),
                       Self.identity())
        XCTAssertFalse("\(Self.identity().settings)".contains("secret"), "credentials never enter the identity")
    }

    func testTheSimulatorsConfigurationIsNamed() throws {
        let base = try SimulatorConfig.builtIn(hardware: "h100", model: "llama-3-8b")
        var knob = base
        knob.scheduler.maxBatchSize += 1
        let a = ProbeIdentity(system: SystemSpec(name: "s", kind: .simulator(base)), workload: WorkloadSpec(),
                              sweep: Self.sweep, measurement: .virtual)
        let b = ProbeIdentity(system: SystemSpec(name: "s", kind: .simulator(knob)), workload: WorkloadSpec(),
                              sweep: Self.sweep, measurement: .virtual)
        XCTAssertEqual(b.differences(from: a).map { String($0.prefix { $0 != " " }) }, ["simulator_config"])
        var tp = base
        tp.tensorParallel = 2
        let c = ProbeIdentity(system: SystemSpec(name: "s", kind: .simulator(tp)), workload: WorkloadSpec(),
                              sweep: Self.sweep, measurement: .virtual)
        XCTAssertEqual(c.differences(from: a).map { String($0.prefix { $0 != " " }) }, ["simulator", "simulator_config"])
    }

    func testEachWorkloadSettingIsNamed() {
        func workload(_ change: (inout WorkloadSpec) -> Void) -> ProbeIdentity {
            var w = WorkloadSpec()
            change(&w)
            return Self.identity(workload: w)
        }
        assertNamed("workload_seed", workload { $0.seed = 2 })
        assertNamed("arrival", workload { $0.arrival = .gamma(cv: 2) })
        assertNamed("prompt_tokens", workload { $0.lengths = .distributions(prompt: .fixed(1024), output: .fixed(128)) })
        assertNamed("output_tokens", workload { $0.lengths = .distributions(prompt: .fixed(512), output: .fixed(256)) })
        assertNamed("prompt_scale", workload { $0.promptScale = 2 })
        assertNamed("output_scale", workload { $0.outputScale = 2 })
        assertNamed("max_total_tokens", workload { $0.maxTotalTokens = 4096 })
    }

    func testEachWindowValidityAndLoadSettingIsNamed() {
        func sweep(_ change: (inout SweepFile) -> Void) -> ProbeIdentity {
            var s = Self.sweep
            change(&s)
            return Self.identity(sweep: s)
        }
        assertNamed("duration_s", sweep { $0.probe.durationS = 120 })
        assertNamed("warmup_s", sweep { $0.probe.warmupS = 5 })
        assertNamed("plan_per_rate", sweep { $0.probe.planPerRate = false })
        assertNamed("requests", sweep { let b = $0.probe.plannedRequests(bracketing: true); $0.probe.requests = 400; $0.probe.bracketRequests = b })
        assertNamed("bracket_requests", sweep { $0.probe.bracketRequests = 50 })
        assertNamed("min_requests", sweep { $0.validity.minRequests = 300 })
        assertNamed("drain_grace_s", sweep { $0.validity.drainGraceS = 5 })
        XCTAssertEqual(sweep { $0.validity.minRequests = 300 }.differences(from: Self.identity()), ["min_requests 100 -> 300"])
        // Thresholds applied when judging are not: the records mean the same.
        XCTAssertEqual(sweep { $0.validity.lagThresholdS = 0.05; $0.validity.rateTolerance = 0.1 }, Self.identity())

        func load(_ change: (inout LoadOptions) -> Void) -> ProbeIdentity {
            var o = Self.load
            change(&o)
            return Self.identity(measurement: .http(o))
        }
        assertNamed("first_token_timeout_s", load { $0.timeouts.firstToken = 30 })
        assertNamed("total_timeout_s", load { $0.timeouts.total = 60 })
        assertNamed("connect_timeout_s", load { $0.timeouts.connect = 3 })
        assertNamed("drain_timeout_s", load { $0.drainTimeout = 5 })
        assertNamed("max_in_flight", load { $0.maxInFlight = 64 })
        XCTAssertEqual(load { $0.realtime = .on }, Self.identity())
        XCTAssertEqual(load { $0.realtime = .off }, Self.identity())
        XCTAssertTrue(Self.identity(measurement: .virtual).differences(from: Self.identity()).contains { $0.hasPrefix("measured_by") })
    }

    func testTheRecordFormatVersionIsPartOfTheIdentity() {
        var older = Self.identity()
        older.settings["record_format"] = "1"
        XCTAssertEqual(Self.identity().differences(from: older), ["record_format 1 -> \(ProbeIdentity.recordFormatVersion)"])
    }

    func testDefaultNamesTellSystemsApart() {
        XCTAssertEqual(SystemSpec.defaultName("127.0.0.1", "8000", "meta-llama/Llama-3-8B"), "127.0.0.1-8000-meta-llama-llama-3-8b")
        XCTAssertEqual(SystemSpec.defaultName("H100", "llama-3-70b", "tp4", "sarathi"), "h100-llama-3-70b-tp4-sarathi")
        XCTAssertEqual(SystemSpec.defaultName("localhost", nil, "m"), "localhost-m")
    }

    func testANameTakenByAnotherSystemIsAnErrorNotAnOverwrite() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("metron-names-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let layout = ResultsLayout(root: root, sweep: "s")
        try SystemIdentity.claim(Self.server, in: layout)
        try SystemIdentity.claim(Self.server, in: layout) // the same system again is fine
        let other = changedServer { $0.model = "llama-70b" }
        XCTAssertThrowsError(try SystemIdentity.claim(other, in: layout)) { error in
            XCTAssertEqual("\(error)", "system 'srv': \(layout.systemDirectory("srv").path) holds the results of another system of that name "
                           + "(model llama -> llama-70b); give this one another name or use another results directory")
        }
        let stored = try JSON.decode(SystemIdentity.self, from: layout.systemDirectory("srv").appendingPathComponent(SystemIdentity.fileName))
        XCTAssertEqual(stored, SystemIdentity(Self.server.kind), "the first system's identity is kept")
    }

    /// A prefill model is reused only for the system and ladder it was made with.
    func testAPrefillModelIsReusedOnlyForTheSameSystemAndLadder() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("metron-prefill-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let profiles = Reasons()
        func run(_ sweep: SweepFile, slope: Double) async throws -> [String] {
            let log = Reasons()
            let runner = ScriptedProbeRunner(attainment: { _ in 1 })
            let run = SweepRun(
                sweep: sweep, resultsRoot: root, measurement: .virtual, makeRunner: { _, _ in runner },
                prefillModel: { system in
                    profiles.add(system.name)
                    let samples = [256, 512, 1024].map { PrefillSample(promptTokens: $0, ttftS: slope * Double($0)) }
                    return try PrefillModel.fit(samples, system: system.name)
                })
            _ = try await run.run(progress: { log.add($0) })
            return log.all.filter { $0.contains("profiling prefill") }
        }
        var sweep = Self.sweep
        sweep.slos[0].ttftDeadline = .perSystem(slackS: 0.3)
        sweep.search.probeBudget = 2
        _ = try await run(sweep, slope: 1e-4)
        _ = try await run(sweep, slope: 2e-4)
        XCTAssertEqual(profiles.all, ["srv"], "the saved model was reused")

        sweep.prefill = PrefillLadder(lengths: [256, 512, 1024], requestsPerLength: 2)
        let lines = try await run(sweep, slope: 3e-4)
        XCTAssertEqual(profiles.all, ["srv", "srv"])
        XCTAssertEqual(lines, ["srv: profiling prefill again: the saved model was made with another ladder"])
        let saved = try PrefillModel.load(from: ResultsLayout(root: root, sweep: "s").prefillModel(system: "srv"))
        XCTAssertEqual(saved.predict(promptTokens: 1000), 0.3, accuracy: 1e-6)
        XCTAssertEqual(saved.systemIdentity, SystemIdentity(Self.server.kind))
    }
}

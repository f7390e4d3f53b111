import Foundation
import MetronModel
import MetronReport
import MetronSearch
import MetronSweep
import MetronTestSupport
import XCTest

final class ParallelSweepTests: XCTestCase {
    var root: URL!

    override func setUp() {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("metron-parallel-\(UUID().uuidString)")
    }

    override func tearDown() { try? FileManager.default.removeItem(at: root) }

    static func yaml(systems: [String], slos: Int = 1) -> String {
        let sloLines = ["  - {name: p99, prefill_model: fixed, ttft_deadline_s: 0.3}",
                        "  - {name: p99b, prefill_model: fixed, ttft_deadline_s: 0.5}"].prefix(slos)
        return """
            name: many
            systems:
            \(systems.enumerated().map { "  - {name: \($1), url: \"http://127.0.0.1:\(9001 + $0)/v1\", gpus: 1}" }.joined(separator: "\n"))
            workloads:
              - {name: chat}
            slos:
            \(sloLines.joined(separator: "\n"))
            search: {start_rate: 2}
            """
    }

    static func truth(_ system: String) -> ScriptedProbeRunner {
        let midpoints: [String: Double] = ["a": 10, "b": 5, "c": 7, "d": 3]
        let midpoint = midpoints[system] ?? 6
        return ScriptedProbeRunner(attainment: ScriptedProbeRunner.logistic(midpoint: midpoint, scale: 0.4), seed: 5)
    }

    /// Lines heard from a sweep.
    final class Heard: @unchecked Sendable {
        private let lock = NSLock()
        private var _lines: [String] = []
        private var _status: [SweepProgress] = []
        func line(_ s: String) { lock.withLock { _lines.append(s) } }
        func status(_ p: SweepProgress) { lock.withLock { _status.append(p) } }
        var lines: [String] { lock.withLock { _lines } }
        var statuses: [SweepProgress] { lock.withLock { _status } }
    }

    func sweep(
        _ name: String, systems: [String], slos: Int = 1, parallel: Int?,
        runner: @escaping @Sendable (String) -> any ProbeRunner
    ) throws -> SweepRun {
        var sweep = try SweepFile.parse(Self.yaml(systems: systems, slos: slos), file: "many.yaml", baseDirectory: root)
        sweep.search.parallelSystems = parallel
        return SweepRun(sweep: sweep, resultsRoot: root.appendingPathComponent(name), measurement: .virtual,
                        makeRunner: { system, _ in runner(system.name) },
                        prefillModel: { _ in throw CancellationError() })
    }

    func files(_ run: SweepRun, _ searches: [SweepSearch]) throws -> [String: Data] {
        var out: [String: Data] = ["capacity.csv": try Data(contentsOf: run.layout.capacityCSV),
                                   "report.html": try Data(contentsOf: run.layout.sweepDirectory.appendingPathComponent("report.html"))]
        for s in searches {
            let dir = run.layout.search(system: s.system.name, workload: s.workload, slo: s.slo)
            for file in [CapacityResult.fileName, PlotData.fileName] {
                out["\(s.system.name)/\(s.slo)/\(file)"] = try Data(contentsOf: dir.appendingPathComponent(file))
            }
        }
        return out
    }

    func testParallelSweepEqualsTheSequentialOne() async throws {
        let systems = ["a", "b", "c"]
        let sequentialHeard = Heard(), parallelHeard = Heard()
        let sequential = try sweep("one", systems: systems, slos: 2, parallel: 1) {
            ObservedRunner(system: $0, inner: Self.truth($0), observer: SweepObserver())
        }
        let one = try await sequential.run(progress: sequentialHeard.line, status: sequentialHeard.status)
        let observer = SweepObserver(meeting: 3)
        let parallel = try sweep("all", systems: systems, slos: 2, parallel: nil) {
            ObservedRunner(system: $0, inner: Self.truth($0), observer: observer)
        }
        let all = try await parallel.run(progress: parallelHeard.line, status: parallelHeard.status)

        XCTAssertTrue(observer.met, "the three systems' first probes ran at once")
        XCTAssertEqual(observer.most, 3)
        XCTAssertEqual(all.map { "\($0.system.name)/\($0.slo)" }, ["a/p99", "a/p99b", "b/p99", "b/p99b", "c/p99", "c/p99b"],
                       "the sweep's order, not the order of finishing")
        XCTAssertEqual(all.map(\.result), one.map(\.result))
        let expected = try files(sequential, one), got = try files(parallel, all)
        XCTAssertEqual(got.keys.sorted(), expected.keys.sorted())
        for (name, data) in expected { XCTAssertEqual(got[name], data, name) }
        let csv = try String(contentsOf: parallel.layout.capacityCSV, encoding: .utf8)
        XCTAssertEqual(csv.split(separator: "\n").dropFirst().map { String($0.prefix(while: { $0 != "," })) },
                       ["a/chat/p99", "a/chat/p99b", "b/chat/p99", "b/chat/p99b", "c/chat/p99", "c/chat/p99b"])
        // The same lines, each naming its search, in another order.
        XCTAssertEqual(parallelHeard.lines.sorted(), sequentialHeard.lines.sorted())
        XCTAssertEqual(parallelHeard.statuses.count, sequentialHeard.statuses.count)
        XCTAssertTrue(sequentialHeard.statuses.allSatisfy { $0.running == 1 })
        XCTAssertTrue(parallelHeard.statuses.contains { $0.running == 3 }, "three at once, said so")
        XCTAssertTrue(parallelHeard.statuses.allSatisfy { $0.running <= 3 })
        XCTAssertTrue(parallelHeard.statuses.map { $0.line() }.contains { $0.hasPrefix("3 of 6 searches running, ") })
        XCTAssertEqual(parallelHeard.statuses.last?.finishedSearches, 5)
        XCTAssertEqual(parallelHeard.statuses.last.map { $0.probesBefore + $0.probes }, all.map(\.result.probes.count).reduce(0, +))
    }

    func testNoMoreSearchesAtOnceThanTheLimit() async throws {
        let heard = Heard()
        let observer = SweepObserver(meeting: 2)
        let run = try sweep("two", systems: ["a", "b", "c", "d"], parallel: 2) {
            ObservedRunner(system: $0, inner: Self.truth($0), observer: observer)
        }
        let searches = try await run.run(status: heard.status)
        XCTAssertEqual(searches.map(\.system.name), ["a", "b", "c", "d"])
        XCTAssertTrue(observer.met, "two at once")
        XCTAssertEqual(observer.most, 2)
        XCTAssertEqual(heard.statuses.map(\.running).max(), 2)

        let alone = SweepObserver()
        let one = try sweep("one", systems: ["a", "b", "c", "d"], parallel: 1) {
            ObservedRunner(system: $0, inner: Self.truth($0), observer: alone)
        }
        let sequential = try await one.run()
        XCTAssertEqual(alone.most, 1, "parallel_systems: 1 is one search after another")
        XCTAssertEqual(sequential.map(\.result), searches.map(\.result))
    }

    /// How many systems had a probe in flight while each plan was probed, and which systems probed it.
    final class PlansInFlight: @unchecked Sendable {
        private let lock = NSLock()
        private var probes: [String: Int] = [:]
        private var most: [ProbeRequest: Int] = [:]
        private var probedBy: [ProbeRequest: Set<String>] = [:]
        func begin(_ system: String, _ request: ProbeRequest) {
            lock.withLock {
                probes[system, default: 0] += 1
                probedBy[request, default: []].insert(system)
            }
        }
        func end(_ system: String) { lock.withLock { probes[system, default: 0] -= 1 } }
        /// The most systems seen in flight during `request`'s probes, counting now.
        func look(_ request: ProbeRequest) -> Int {
            lock.withLock {
                most[request] = max(most[request] ?? 0, probes.values.filter { $0 > 0 }.count)
                return most[request]!
            }
        }
        func most(_ request: ProbeRequest) -> Int { lock.withLock { most[request] ?? 0 } }
        /// The plans at `rate` that more than one system probed.
        func shared(at rate: Double) -> [ProbeRequest] {
            lock.withLock { probedBy.filter { $0.key.rate == rate && $0.value.count > 1 }.map(\.key) }
        }
    }

    /// A scripted system whose probes wait a little until `meeting` systems have probes in flight.
    struct MeetingRunner: ProbeRunner {
        var system: String
        var inner: ScriptedProbeRunner
        var plans: PlansInFlight
        var meeting: Int

        func probe(_ request: ProbeRequest) async throws -> ProbeMeasurement {
            plans.begin(system, request)
            defer { plans.end(system) }
            // Yields, not sleeps: probes running at the same time meet within them; none waits forever.
            for _ in 0..<20_000 where plans.look(request) < meeting { await Task.yield() }
            return inner.measure(request)
        }
    }

    /// The shared plans of `higher`'s paired comparison, and the most systems any of them saw in flight.
    func pairedPlans(_ searches: [SweepSearch], _ higher: String, _ plans: PlansInFlight) throws -> (count: Int, most: Int) {
        let paired = try XCTUnwrap(searches.first { $0.system.name == higher }?.result.pairedWithNext, "\(higher) has a next system")
        let shared = plans.shared(at: paired.comparison.rate)
        return (shared.count, shared.map(plans.most).max() ?? 0)
    }

    func testAPairsSystemsProbeEachSharedPlanAtOnceUnlessSearchesRunOneAtATime() async throws {
        for parallel in [nil, 1] {
            let plans = PlansInFlight()
            let run = try sweep("pair-\(parallel ?? 0)", systems: ["a", "c"], parallel: parallel) {
                MeetingRunner(system: $0, inner: Self.truth($0), plans: plans, meeting: 2)
            }
            let (count, most) = try pairedPlans(try await run.run(), "a", plans)
            XCTAssertEqual(count, PairedComparison.defaultPlans)
            XCTAssertEqual(most, parallel == nil ? 2 : 1,
                           parallel == nil ? "both systems probe each plan at once" : "parallel_systems: 1 keeps them apart too")
        }
    }

    func testPairsThatShareNoSystemAreComparedAtTheSameTimeAsTheLimitAllows() async throws {
        // Ranked a (10), c (7), b (5), d (3): a/c and b/d share no system, c/b shares one with each.
        for (parallel, apart, sharing) in [(nil, 4, 2), (3, 2, 2)] as [(Int?, Int, Int)] {
            let plans = PlansInFlight()
            let run = try sweep("pairs-\(parallel ?? 0)", systems: ["a", "b", "c", "d"], parallel: parallel) {
                MeetingRunner(system: $0, inner: Self.truth($0), plans: plans, meeting: 4)
            }
            let searches = try await run.run()
            XCTAssertEqual(try pairedPlans(searches, "a", plans).most, apart, "a/c beside b/d: parallel_systems \(parallel ?? 0)")
            XCTAssertEqual(try pairedPlans(searches, "b", plans).most, apart)
            XCTAssertEqual(try pairedPlans(searches, "c", plans).most, sharing, "c/b shares a system with both: alone")
        }
    }

    func testClientLagLowersTheLimitForSearchesStartingAfterwards() async throws {
        // 6 ms of timer lateness: over half the 10 ms threshold, so the probes stay valid.
        let heard = Heard()
        let observer = SweepObserver()
        let lagging = try sweep("lag", systems: ["a", "b", "c"], slos: 2, parallel: nil) {
            ObservedRunner(system: $0, inner: Self.truth($0), observer: observer, latenessS: 0.006)
        }
        let searches = try await lagging.run(progress: heard.line, status: heard.status)
        let lowering = heard.lines.filter { $0.contains("running at most") }
        XCTAssertEqual(lowering.count, 2, "from 3 down to 1, never below: \(lowering)")
        XCTAssertTrue(lowering.contains { $0.range(of: #"^[abc]/chat: client lag 6\.0 ms \(threshold 10\.0 ms\) at \d+\.\d{3} req/s: running at most 2 searches at once$"#, options: .regularExpression) != nil }, "\(lowering)")
        XCTAssertTrue(lowering.contains { $0.hasSuffix(": running at most 1 search at once") }, "\(lowering)")
        // Every second search of a system starts after its first one measured at least two lagging
        // probes, with the limit at 1: it runs alone.
        let second = heard.statuses.filter { $0.label.hasSuffix("/p99b") }
        XCTAssertEqual(second.filter { $0.probes == 0 }.count, 3)
        XCTAssertTrue(second.allSatisfy { $0.running == 1 }, "\(second.map { $0.line() })")
        XCTAssertTrue(searches.allSatisfy { $0.result.probes.allSatisfy(\.valid) })

        // The same measurements one search at a time: the same results, and nothing to lower.
        let quiet = Heard()
        let sequential = try sweep("seq", systems: ["a", "b", "c"], slos: 2, parallel: 1) {
            ObservedRunner(system: $0, inner: Self.truth($0), observer: SweepObserver(), latenessS: 0.006)
        }
        let one = try await sequential.run(progress: quiet.line)
        XCTAssertEqual(one.map(\.result), searches.map(\.result))
        XCTAssertFalse(quiet.lines.contains { $0.contains("running at most") })

        // Lag under half the threshold changes nothing; neither do probes reused from the cache.
        let calm = Heard()
        let fine = try sweep("calm", systems: ["a", "b"], parallel: nil) {
            ObservedRunner(system: $0, inner: Self.truth($0), observer: SweepObserver(), latenessS: 0.004)
        }
        _ = try await fine.run(progress: calm.line)
        XCTAssertFalse(calm.lines.contains { $0.contains("running at most") })
        let again = Heard()
        _ = try await lagging.run(progress: again.line)
        XCTAssertTrue(again.lines.contains { $0.contains("reusing probe") })
        XCTAssertFalse(again.lines.contains { $0.contains("running at most") }, "a cached probe says nothing about the client now")
    }

    func testRequestsFailedInTheClientLowerTheLimit() async throws {
        let heard = Heard()
        let run = try sweep("faults", systems: ["a", "b"], parallel: nil) {
            ObservedRunner(system: $0, inner: Self.truth($0), observer: SweepObserver(), clientFaults: $0 == "a" ? 1 : 0)
        }
        let searches = try await run.run(progress: heard.line)
        let lowering = heard.lines.filter { $0.contains("running at most") }
        XCTAssertEqual(lowering, ["a/chat: 1 request failed in the client at 2.000 req/s: running at most 1 search at once"])
        XCTAssertEqual(searches.map(\.system.name), ["a", "b"], "the probe is measured again and the sweep goes on")
    }

    func testAFailingSearchLetsTheRunningOnesFinishAndLosesNothing() async throws {
        let complete = try await sweep("full", systems: ["a", "b", "c"], parallel: nil) {
            ObservedRunner(system: $0, inner: Self.truth($0), observer: SweepObserver())
        }.run()

        let observer = SweepObserver(meeting: 3)
        let failing = try sweep("fail", systems: ["a", "b", "c"], parallel: nil) {
            ObservedRunner(system: $0, inner: Self.truth($0), observer: observer, dieAfter: $0 == "b" ? 3 : nil)
        }
        do {
            _ = try await failing.run()
            XCTFail("expected b's search to stop the sweep")
        } catch let error as SearchError {
            XCTAssertEqual(error.completed.count, 3)
        }
        XCTAssertTrue(observer.met)
        let layout = failing.layout
        XCTAssertFalse(FileManager.default.fileExists(atPath: layout.capacityCSV.path), "no table for an unfinished sweep")
        for (i, system) in ["a", "b", "c"].enumerated() where system != "b" {
            let result = try CapacityResult.read(from: layout.search(system: system, workload: "chat", slo: "p99"))
            // Paired comparisons come after every search, so a stopped sweep has none.
            var expected = complete[i].result
            expected.pairedWithNext = nil
            XCTAssertEqual(result, expected, "\(system) ran on and was written")
        }
        XCTAssertThrowsError(try CapacityResult.read(from: layout.search(system: "b", workload: "chat", slo: "p99")))
        let counters = ["a", "b", "c"].reduce(into: [String: CountingRunner]()) { $0[$1] = CountingRunner(Self.truth($1)) }
        let resumed = try await SweepRun(
            sweep: failing.sweep, resultsRoot: root.appendingPathComponent("fail"), measurement: .virtual,
            makeRunner: { system, _ in counters[system.name]! }, prefillModel: { _ in throw CancellationError() }).run()
        // The rerun measures only what b had not measured, and the paired comparisons.
        let pairs = complete.compactMap { s in s.result.pairedWithNext.map { (s.system.name, $0.system, $0.comparison.first.count) } }
        XCTAssertFalse(pairs.isEmpty)
        func pairedProbes(_ system: String) -> Int { pairs.filter { $0.0 == system || $0.1 == system }.reduce(0) { $0 + $1.2 } }
        XCTAssertEqual(counters["a"]?.count, pairedProbes("a"))
        XCTAssertEqual(counters["c"]?.count, pairedProbes("c"))
        XCTAssertEqual(counters["b"]?.count, complete[1].result.probes.count - 3 + pairedProbes("b"))
        XCTAssertEqual(resumed.map(\.result), complete.map(\.result))
    }

    func testTheFirstErrorInTheSweepsOrderIsThrownAndNothingNewStarts() async throws {
        let failing = try sweep("two-fail", systems: ["a", "b", "c"], parallel: nil) {
            ObservedRunner(system: $0, inner: Self.truth($0), observer: SweepObserver(),
                           dieAfter: ["b": 3, "c": 2][$0])
        }
        do {
            _ = try await failing.run()
            XCTFail("expected the sweep to stop")
        } catch let error as SearchError {
            XCTAssertEqual(error.completed.count, 3, "b's error, whichever failed first")
        }
        // One at a time: a finishes, b fails, c never starts.
        let runners = ["a", "b", "c"].map { ObservedRunner(system: $0, inner: Self.truth($0), observer: SweepObserver(),
                                                           dieAfter: $0 == "b" ? 3 : nil) }
        let sequential = try sweep("seq-fail", systems: ["a", "b", "c"], slos: 2, parallel: 1) { name in
            runners.first { $0.system == name }!
        }
        do {
            _ = try await sequential.run()
            XCTFail("expected the sweep to stop")
        } catch is SearchError {}
        XCTAssertNoThrow(try CapacityResult.read(from: sequential.layout.search(system: "a", workload: "chat", slo: "p99b")))
        XCTAssertEqual(runners[2].probes.value, 0, "no search starts after one has failed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: sequential.layout.search(system: "c", workload: "chat", slo: "p99").path))
    }
}

extension SweepProgressTests {
    func testSeveralSearchesAtOnceAreCountedTogether() {
        // Three running with 9 probes between them, one finished after 6: 10 s a probe over the sweep.
        let p = SweepProgress(search: 4, searches: 5, label: "c/chat/p99", probes: 9, probeLimit: 12, probesBefore: 6,
                              finishedSearches: 1, elapsedS: 150, running: 3)
        XCTAssertEqual(p.line(), "3 of 5 searches running, 1 finished, 15 probes done, 2m30s elapsed, about 2m30s left")
        // Each running search has done 3 of the 6 a search takes (3 more each), and one is still to
        // start (6): 15 probes, 150 s.
        XCTAssertEqual(p.remainingS ?? 0, 150, accuracy: 1e-9)
        var start = p
        start.finishedSearches = 0
        start.probesBefore = 0
        start.probes = 0
        start.elapsedS = 1
        XCTAssertEqual(start.line(), "3 of 5 searches running, 0 probes done, 1s elapsed")
    }
}

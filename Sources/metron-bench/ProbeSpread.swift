import ArgumentParser
import Foundation
import MetronModel
import MetronSearch
import MetronSweep
import MetronSimModel

/// How much probes of one size disagree near capacity, in virtual time: at each rate, many probes of
/// one quickstart system (or one accuracy-benchmark configuration), their pooled attainment, the
/// spread of their attainments against a binomial count's (the between-probe dispersion), and the
/// dispersion the search estimates from the episodes of misses inside the probes.
struct ProbeSpread: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spread", abstract: "How much probes of one size disagree near capacity, in virtual time.")

    @Option(help: "The simulator system of sweeps/quickstart.yaml.")
    var system = "h100-sarathi"

    @Option(help: "A configuration of bench/accuracy instead, with its workload and SLO.")
    var config: String?

    @Option(help: "Rates to probe (requests per second), comma-separated.")
    var rates: NumberList<Double> = [16, 17, 18, 19, 20]

    @Option(help: "Probes per rate, each with its own workload seed.")
    var probes = 100

    @Option(help: "Each probe's window in seconds.")
    var duration = 60.0

    @Option(help: "Each probe's window in requests instead, converted to seconds by the rate.")
    var requests: Int?

    @Option(help: "Each probe's warm-up in seconds.")
    var warmup = 10.0

    func validate() throws {
        try rates.requirePositive("--rates")
        if probes < 2 { throw ValidationError("--probes must be at least 2, got \(probes)") }
        if duration <= 0 { throw ValidationError("--duration must be positive, got \(duration)") }
        if warmup < 0 { throw ValidationError("--warmup must not be negative, got \(warmup)") }
        if let requests, requests < 1 { throw ValidationError("--requests must be at least 1, got \(requests)") }
    }

    func run() async throws {
        let rules = ValidityRules()
        let subject = try await measured(rules: rules)
        let window = requests.map { "\($0) requests" } ?? "\(duration) s"
        print("\(subject.name), \(probes) probes per rate, window \(window), warm-up \(warmup) s; SLO \(subject.slo.summary)")
        print("rate     pooled   sd       between  episodes  pass  valid")
        for rate in rates.values {
            var probeWindow = subject.window
            probeWindow.warmupS = warmup
            probeWindow.durationS = requests.map { Double($0) / rate } ?? duration
            let planner = ProbePlanner(workload: subject.workload, window: probeWindow, minRequests: rules.minRequests)
            var runner = VirtualProbeRunner(config: subject.simulator, planner: planner, drainGraceS: rules.drainGraceS)
            var attainments: [Double] = [], trials: [Int] = [], episodes: [Double] = []
            var passes = 0, valid = 0
            for k in 0..<probes {
                runner.planner.workload.seed = 5_000_000 &+ UInt64(k) &* 7919
                let result = ProbeResult(try await runner.probe(ProbeRequest(rate: rate)), slo: subject.slo, rules: rules)
                attainments.append(result.attainmentPoint.attainment)
                trials.append(result.attainmentPoint.trials)
                episodes += result.slo.missEpisodes
                if result.passed { passes += 1 }
                if result.valid { valid += 1 }
            }
            let n = Double(probes)
            let pooled = zip(attainments, trials).reduce(0.0) { $0 + $1.0 * Double($1.1) } / Double(trials.reduce(0, +))
            let mean = attainments.reduce(0, +) / n
            let sd = (attainments.reduce(0.0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)).squareRoot()
            let binomial = pooled * (1 - pooled) / (Double(trials.reduce(0, +)) / n)
            let episodeDispersion = episodes.reduce(0) { $0 + $1 * $1 } / max(episodes.reduce(0, +), 1e-12)
            print(String(format: "%6.2f   %.5f  %.5f  %7.1f  %8.1f  %.2f  %.2f", rate, pooled, sd, sd * sd / binomial,
                         episodeDispersion, Double(passes) / n, Double(valid) / n))
        }
    }

    /// What is probed: a system, its workload and SLO, and the probe settings the window starts from.
    struct Subject {
        var name: String
        var simulator: SimulatorConfig
        var workload: WorkloadSpec
        var slo: SLO
        var window: ProbeWindow
    }

    /// A benchmark configuration (`--config`), or a quickstart system.
    func measured(rules: ValidityRules) async throws -> Subject {
        if let config {
            guard let c = try await BenchConfiguration.load(directory: "bench/accuracy", only: [config]).first else {
                throw SweepError.cannotMeasure(system: config, "not a configuration of bench/accuracy")
            }
            return Subject(name: c.name, simulator: c.simulator, workload: c.workload, slo: c.slo, window: ProbeWindow())
        }
        let sweep = try SweepFile.load(path: "sweeps/quickstart.yaml")
        guard let workload = sweep.workloads.first,
              let quickstart = sweep.systems.first(where: { $0.name == system }), case let .simulator(simulator) = quickstart.kind
        else { throw SweepError.cannotMeasure(system: system, "not a simulator system of sweeps/quickstart.yaml") }
        let planner = ProbePlanner(workload: workload.spec, window: sweep.probe, minRequests: rules.minRequests)
        let slo = try await virtualSLO(sweep, system: system, planner: planner, rules: rules)
        return Subject(name: system, simulator: simulator, workload: workload.spec, slo: slo, window: sweep.probe)
    }
}

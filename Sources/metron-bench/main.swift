// Benchmarks that print figures; never run as tests. See bench/run.sh and docs/BENCHMARKS.md.
import Foundation
import MetronModel
import MetronReport
import MetronStats

func peakRSSMiB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kib = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return .nan }
    return kib / 1024
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// A synthetic record: TTFT 0.1-1 s, exponential gaps around 25 ms, a stall now and then, and a
/// chunk of several tokens one time in ten.
func syntheticRecord(id: Int, tokens: Int, rng: RandomSource) -> RequestRecord {
    let arrival = Double(id) * 0.01
    var t = arrival + 0.1 + 0.9 * rng.uniform()
    var times: [Double] = [], counts: [Int] = []
    var emitted = 0
    while emitted < tokens {
        let k = min(tokens - emitted, rng.uniform() < 0.1 ? rng.integer(in: 2...4) : 1)
        times.append(t)
        counts.append(k)
        emitted += k
        t += rng.exponential(rate: 40) + (rng.uniform() < 0.01 ? 0.5 : 0)
    }
    return RequestRecord(
        id: id, scheduledS: arrival, sentS: arrival + 0.0001, chunkTimesS: times, chunkTokens: counts,
        requestedPromptTokens: 512, requestedOutputTokens: tokens, promptTokens: 512, outputTokens: tokens)
}

/// Runs a subcommand with parsed options: usage and exit 2 when they did not parse, the error and
/// exit 1 when it throws.
func runSubcommand<Options>(_ name: String, usage: String, options: Options?, run: (Options) async throws -> Void) async {
    guard let options else {
        FileHandle.standardError.write(Data("usage: metron-bench \(name) \(usage)\n".utf8))
        exit(2)
    }
    do { try await run(options) } catch {
        FileHandle.standardError.write(Data("metron-bench \(name): \(error)\n".utf8))
        exit(1)
    }
}

/// A comma-separated list of positive numbers; nil when it is empty or any entry is not one.
func positiveNumbers<T: LosslessStringConvertible & Numeric & Comparable>(_ text: String) -> [T]? {
    let entries = text.split(separator: ",", omittingEmptySubsequences: false)
    let values = entries.compactMap { T(String($0)) }.filter { $0 > .zero }
    return !values.isEmpty && values.count == entries.count ? values : nil
}

/// Walks `--name value` options (and the bare `flags`), handing each to `set`; false when one is
/// unknown, lacks its value or is refused by `set`.
func parseOptions(_ arguments: [String], flags: Set<String> = [], _ set: (String, String) -> Bool) -> Bool {
    var i = 0
    while i < arguments.count {
        if flags.contains(arguments[i]) {
            guard set(arguments[i], "") else { return false }
            i += 1
            continue
        }
        guard i + 1 < arguments.count, set(arguments[i], arguments[i + 1]) else { return false }
        i += 2
    }
    return true
}

let arguments = CommandLine.arguments.dropFirst()
switch arguments.first {
case "gen":
    // gen FILE REQUESTS TOKENS
    let a = Array(arguments.dropFirst())
    guard a.count == 3, let n = Int(a[1]), let tokens = Int(a[2]) else {
        FileHandle.standardError.write(Data("usage: metron-bench gen FILE REQUESTS TOKENS\n".utf8)); exit(2)
    }
    guard FileManager.default.createFile(atPath: a[0], contents: nil) else { exit(1) }
    let out = FileHandle(forWritingAtPath: a[0])!
    let rng = RandomSource(seed: 1)
    var batch: [RequestRecord] = []
    for i in 0..<n {
        batch.append(syntheticRecord(id: i, tokens: tokens, rng: rng))
        if batch.count == 1000 { out.write(try RecordsFile.encode(batch)); batch.removeAll() }
    }
    out.write(try RecordsFile.encode(batch))
    try out.close()
case "summary":
    // summary FILE: stream the file (twice) and compute every metric.
    guard let path = arguments.dropFirst().first else { exit(2) }
    let start = now()
    var requests = 0
    let summary = try RunSummary(
        forEachRecord: { visit in
            requests = 0
            try RecordsFile.forEach(URL(fileURLWithPath: path)) { visit($0); requests += 1 }
        }, targetRate: nil, deadlines: .referenceDefault)
    let elapsed = now() - start
    print(String(format: "swift-file requests=%d seconds=%.3f per_request_us=%.2f peak_rss_mib=%.1f p1_fluidity=%.6f tbt_p99=%.6f",
                 requests, elapsed, elapsed / Double(requests) * 1e6, peakRSSMiB(), summary.fluidity.p1 ?? .nan,
                 summary.tbt.p99 ?? .nan))
case "compute":
    // compute FILE N: the first N records in memory, metrics only (no parsing in the timing).
    let a = Array(arguments.dropFirst())
    guard a.count == 2, let n = Int(a[1]) else { exit(2) }
    var records: [RequestRecord] = []
    try? RecordsFile.forEach(URL(fileURLWithPath: a[0])) {
        if records.count < n { records.append($0) } else { throw CancellationError() }
    }
    let start = now()
    let summary = RunSummary(records: records, targetRate: nil, deadlines: .referenceDefault)
    let elapsed = now() - start
    print(String(format: "swift-compute requests=%d seconds=%.3f per_request_us=%.2f p1_fluidity=%.6f tbt_p99=%.6f fluid_rate=%.4f",
                 records.count, elapsed, elapsed / Double(records.count) * 1e6, summary.fluidity.p1 ?? .nan,
                 summary.tbt.p99 ?? .nan, summary.tokenRates.fluidTokenGenerationRate ?? .nan))
case "accuracy":
    await runSubcommand("accuracy", usage: AccuracyBenchmark.usage,
                        options: AccuracyBenchmark.parse(Array(arguments.dropFirst())), run: AccuracyBenchmark.run)
case "pairing":
    await runSubcommand("pairing", usage: PairingBenchmark.usage,
                        options: PairingBenchmark.parse(Array(arguments.dropFirst())), run: PairingBenchmark.run)
case "spread":
    await runSubcommand(
        "spread", usage: "[--system NAME] [--rates A,B,...] [--probes N] [--duration S] [--warmup S]",
        options: ProbeSpread.parse(Array(arguments.dropFirst())), run: ProbeSpread.run)
case "controls":
    await runSubcommand("controls", usage: ControlVariates.usage,
                        options: ControlVariates.parse(Array(arguments.dropFirst())), run: ControlVariates.run)
default:
    FileHandle.standardError.write(Data("usage: metron-bench gen|summary|compute|accuracy|pairing|spread|controls ...\n".utf8))
    exit(2)
}

import Foundation
import MetronCore

/// The settings of one load run, saved as `run.json` next to its records. Holds no secrets: API
/// keys and header values are never written.
public struct RunSettings: Codable, Sendable, Equatable {
    public var url: String
    public var api: String
    public var model: String
    public var targetRate: Double?
    public var durationS: Double
    /// Requests scheduled before this offset are recorded but left out of the summary.
    public var warmupS: Double
    public var seed: UInt64
    public var workload: String
    public var maxInFlight: Int?
    public var timeouts: [String: Double]
    public var drainTimeoutS: Double
    public var ttftDeadlineS: Double
    public var tbtDeadlineS: Double
    public var lagThresholdS: Double
    public var promptCalibration: String
    public var tokensPerWord: Double
    public var overheadTokens: Double
    public var realtime: Bool
    /// Header names only (values may be secrets).
    public var headerNames: [String]
    public var startedAt: String
    /// Every timer-lateness sample of the run (calibration first), seconds.
    public var timerLatenessS: [Double]
    /// CLOCK_MONOTONIC seconds of the records' time 0 (to compare with a server's own send log).
    public var runStartMonotonicS: Double?

    public init(
        url: String, api: String, model: String, targetRate: Double?, durationS: Double, warmupS: Double, seed: UInt64,
        workload: String, maxInFlight: Int?, timeouts: [String: Double], drainTimeoutS: Double, ttftDeadlineS: Double,
        tbtDeadlineS: Double, lagThresholdS: Double, promptCalibration: String, tokensPerWord: Double,
        overheadTokens: Double, realtime: Bool, headerNames: [String], startedAt: String, timerLatenessS: [Double],
        runStartMonotonicS: Double? = nil
    ) {
        self.runStartMonotonicS = runStartMonotonicS
        self.url = RunSettings.withoutCredentials(url)
        self.api = api
        self.model = model
        self.targetRate = targetRate
        self.durationS = durationS
        self.warmupS = warmupS
        self.seed = seed
        self.workload = workload
        self.maxInFlight = maxInFlight
        self.timeouts = timeouts
        self.drainTimeoutS = drainTimeoutS
        self.ttftDeadlineS = ttftDeadlineS
        self.tbtDeadlineS = tbtDeadlineS
        self.lagThresholdS = lagThresholdS
        self.promptCalibration = promptCalibration
        self.tokensPerWord = tokensPerWord
        self.overheadTokens = overheadTokens
        self.realtime = realtime
        self.headerNames = headerNames
        self.startedAt = startedAt
        self.timerLatenessS = timerLatenessS
    }

    enum CodingKeys: String, CodingKey {
        case url, api, model, seed, workload, timeouts, realtime
        case targetRate = "target_rate", durationS = "duration_s", warmupS = "warmup_s"
        case maxInFlight = "max_in_flight", drainTimeoutS = "drain_timeout_s", ttftDeadlineS = "ttft_deadline_s"
        case tbtDeadlineS = "tbt_deadline_s", lagThresholdS = "lag_threshold_s"
        case promptCalibration = "prompt_calibration", tokensPerWord = "tokens_per_word"
        case overheadTokens = "overhead_tokens", headerNames = "header_names", startedAt = "started_at"
        case timerLatenessS = "timer_lateness_s", runStartMonotonicS = "run_start_monotonic_s"
    }

    /// A URL with any `user:password@` removed.
    static func withoutCredentials(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.user != nil || components.password != nil
        else { return url }
        components.user = nil
        components.password = nil
        return components.string ?? url
    }

    /// The summary of records under these settings: warm-up requests are left out.
    public func summary(of records: [RequestRecord]) -> RunSummary {
        RunSummary(
            records: records.filter { $0.scheduledS >= warmupS }, targetRate: targetRate,
            deadlines: DeadlineSpec(ttft: .fixed(ttftDeadlineS), tbt: tbtDeadlineS),
            timerLateness: timerLatenessS, lagThreshold: lagThresholdS, maxInFlight: maxInFlight)
    }
}

/// A problem reading or writing a results directory, naming the file and line.
public struct ResultsError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One run's results on disk: `requests.jsonl` (one record per line), `summary.json`, `run.json`.
/// Every file is written to a temporary name and renamed, so a reader never sees half a file.
public enum RunDirectory {
    public static let recordsFile = "requests.jsonl"
    public static let summaryFile = "summary.json"
    public static let settingsFile = "run.json"

    static func encoder(pretty: Bool) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted] : [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return encoder
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return decoder
    }

    public static func write(records: [RequestRecord], summary: RunSummary, settings: RunSettings, to directory: URL) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ResultsError("cannot create \(directory.path): \(error.localizedDescription)")
        }
        let lineEncoder = encoder(pretty: false)
        var lines = Data()
        for record in records {
            lines.append(try lineEncoder.encode(record))
            lines.append(UInt8(ascii: "\n"))
        }
        try writeAtomically(lines, to: directory.appendingPathComponent(recordsFile))
        try writeAtomically(try encoder(pretty: true).encode(settings) + Data("\n".utf8),
                            to: directory.appendingPathComponent(settingsFile))
        try writeAtomically(try encoder(pretty: true).encode(summary) + Data("\n".utf8),
                            to: directory.appendingPathComponent(summaryFile))
    }

    public static func summaryJSON(_ summary: RunSummary) throws -> String {
        String(decoding: try encoder(pretty: true).encode(summary), as: UTF8.self)
    }

    /// Temporary file in the same directory, then rename: atomic on one file system.
    public static func writeAtomically(_ data: Data, to url: URL) throws {
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)")
        do {
            try data.write(to: temporary)
            if rename(temporary.path, url.path) != 0 {
                throw ResultsError("cannot rename \(temporary.path) to \(url.path): \(String(cString: strerror(errno)))")
            }
        } catch let error as ResultsError {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw ResultsError("cannot write \(url.path): \(error.localizedDescription)")
        }
    }

    public static func readRecords(from directory: URL) throws -> [RequestRecord] {
        let url = directory.appendingPathComponent(recordsFile)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ResultsError("\(url.path): no such file or not readable")
        }
        var records: [RequestRecord] = []
        var problems: [String] = []
        let decoder = decoder
        for (number, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { continue }
            do {
                records.append(try decoder.decode(RequestRecord.self, from: Data(line)))
            } catch {
                if problems.count < 20 { problems.append("\(url.path):\(number + 1): not a request record: \(describe(error))") }
            }
        }
        guard problems.isEmpty else { throw ResultsError(problems.joined(separator: "\n")) }
        return records
    }

    public static func readSettings(from directory: URL) throws -> RunSettings {
        let url = directory.appendingPathComponent(settingsFile)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ResultsError("\(url.path): no such file or not readable")
        }
        do {
            return try decoder.decode(RunSettings.self, from: data)
        } catch {
            throw ResultsError("\(url.path): not a run settings file: \(describe(error))")
        }
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case let DecodingError.keyNotFound(key, _): return "missing key '\(key.stringValue)'"
        case let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context):
            return "bad value at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        case let DecodingError.dataCorrupted(context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? "invalid JSON" : "bad value at '\(path)'"
        default: return "\(error)"
        }
    }
}

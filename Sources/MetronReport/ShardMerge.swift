import Foundation
import MetronModel

/// `metron merge OUT`: the shards of one plan (`OUT/shards/I/`, each a run directory) joined into one
/// run in OUT: `requests.jsonl`, `run.json` and `summary.json`. Every problem is found before anything
/// is written, and nothing that exists is overwritten.
public struct ShardMerge {
    public var directory: URL
    /// Shards whose time 0 on their own wall clocks lie further apart than this, or whose clocks may
    /// be off by more, are refused: their records' times would not be comparable.
    public var maxClockSpreadS: Double

    public init(directory: URL, maxClockSpreadS: Double = 0.01) {
        self.directory = directory
        self.maxClockSpreadS = maxClockSpreadS
    }

    public struct Problems: Error, CustomStringConvertible {
        public var problems: [String]
        public var description: String { problems.joined(separator: "\n") }
    }

    struct Found {
        var directory: URL
        var settings: RunSettings
        var record: ShardRecord
    }

    /// The merged run's settings and summary, after writing its files.
    public func run(onWarning: (String) -> Void = { _ in }) throws -> (settings: RunSettings, summary: RunSummary) {
        let shards = try readShards()
        let (settings, warnings) = try check(shards)
        warnings.forEach(onWarning)
        let records = RunDirectory.recordsURL(in: directory)
        let writer = try RecordsFileWriter(creating: records)
        var ids = [Bool](repeating: false, count: settings.merged?.first?.planRequests ?? 0)
        var problems: [String] = []
        for shard in shards {
            var batch: [RequestRecord] = []
            try RecordsFile.forEach(RunDirectory.recordsURL(in: shard.directory), onWarning: onWarning) { record in
                let id = record.id
                if !ids.indices.contains(id) || id % shard.record.count != shard.record.index {
                    problems.append("shard \(shard.record.index): request \(id) is not in its share of the plan")
                } else if ids[id] {
                    problems.append("shard \(shard.record.index): request \(id) is recorded twice")
                } else {
                    ids[id] = true
                }
                batch.append(record)
                if batch.count == 1024 { writer.append(batch); batch.removeAll(keepingCapacity: true) }
            }
            writer.append(batch)
        }
        writer.close()
        let missing = ids.indices.filter { !ids[$0] }
        if !missing.isEmpty {
            problems.append("\(missing.count) planned requests have no record (the first: \(missing.prefix(5).map(String.init).joined(separator: ", ")))")
        }
        if let failure = writer.failure { problems.append("\(records.path): \(failure)") }
        guard problems.isEmpty else {
            try? FileManager.default.removeItem(at: records)
            try? FileManager.default.removeItem(at: RecordsSidecar.url(for: records))
            throw Problems(problems: Array(problems.prefix(20)))
        }
        let summary = try settings.summary(ofRecordsIn: records, onWarning: onWarning)
        try RunDirectory.writeSettings(settings, to: directory)
        try RunDirectory.writeSummary(summary, to: directory)
        return (settings, summary)
    }

    func readShards() throws -> [Found] {
        let root = directory.appendingPathComponent("shards")
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root.path) else {
            throw Problems(problems: ["\(root.path): no such directory; run `metron run --shard I/N --out \(directory.path)` first"])
        }
        var found: [Found] = [], problems: [String] = []
        for name in names.sorted() where !name.hasPrefix(".") {
            let shardDirectory = root.appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: shardDirectory.path, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            guard FileManager.default.fileExists(atPath: shardDirectory.appendingPathComponent(RunDirectory.settingsFile).path) else {
                problems.append("\(shardDirectory.path): no \(RunDirectory.settingsFile) (the shard has not started)")
                continue
            }
            do {
                let settings = try RunDirectory.readSettings(from: shardDirectory)
                guard let record = settings.shard else {
                    problems.append("\(shardDirectory.path)/\(RunDirectory.settingsFile): not a shard's run")
                    continue
                }
                guard FileManager.default.fileExists(atPath: RunDirectory.recordsURL(in: shardDirectory).path) else {
                    problems.append("\(shardDirectory.path): no \(RunDirectory.recordsFile) (the shard has not run)")
                    continue
                }
                found.append(Found(directory: shardDirectory, settings: settings, record: record))
            } catch {
                problems.append("\(error)")
            }
        }
        if found.isEmpty, problems.isEmpty { problems.append("\(root.path): no shard directories") }
        guard problems.isEmpty else { throw Problems(problems: problems) }
        return found.sorted { $0.record.index < $1.record.index }
    }

    /// The merged settings, or every reason the shards do not make one run.
    func check(_ shards: [Found]) throws -> (RunSettings, warnings: [String]) {
        var problems: [String] = [], warnings: [String] = []
        if FileManager.default.fileExists(atPath: RunDirectory.recordsURL(in: directory).path) {
            problems.append("\(RunDirectory.recordsURL(in: directory).path) exists: these shards are merged already (nothing is overwritten)")
        }
        let first = shards[0]
        let count = first.record.count
        for s in shards where s.record.count != count {
            problems.append("shard \(s.record.index) (\(s.directory.lastPathComponent)) is one of \(s.record.count), shard \(first.record.index) one of \(count)")
        }
        let indices = shards.map(\.record.index)
        for index in Set(indices).sorted() where indices.filter({ $0 == index }).count > 1 {
            let places = shards.filter { $0.record.index == index }.map { $0.directory.lastPathComponent }
            problems.append("shard \(index) appears \(places.count) times (\(places.joined(separator: ", ")))")
        }
        let missing = (0..<count).filter { !indices.contains($0) }
        if !missing.isEmpty { problems.append("missing shard\(missing.count > 1 ? "s" : "") \(missing.map(String.init).joined(separator: ", ")) of \(count)") }
        for s in shards.dropFirst() {
            if s.record.planFingerprint != first.record.planFingerprint || s.record.planRequests != first.record.planRequests {
                problems.append("shard \(s.record.index) sent another plan than shard \(first.record.index) (\(s.record.planRequests) against \(first.record.planRequests) requests, or other arrivals or lengths)")
            }
            let differences = Self.settingsDifferences(first.settings, s.settings)
            if !differences.isEmpty {
                problems.append("shard \(s.record.index) ran with other settings than shard \(first.record.index): \(differences.joined(separator: ", "))")
            }
            if s.record.startAtS != first.record.startAtS {
                problems.append("shard \(s.record.index) was given another time 0 than shard \(first.record.index)")
            }
        }
        let starts = shards.compactMap(\.record.runStartWallClockS)
        if starts.count == shards.count, let lo = starts.min(), let hi = starts.max(), hi - lo > maxClockSpreadS {
            problems.append("the shards' time 0 lie \(ms(hi - lo)) apart on their own clocks, more than \(ms(maxClockSpreadS)): a shard started late, or the clocks disagree")
        }
        for s in shards {
            if let e = s.record.clockMaxErrorS, e > maxClockSpreadS {
                problems.append("shard \(s.record.index): the kernel bounds its clock's error at \(ms(e)), more than \(ms(maxClockSpreadS))")
            } else if s.record.clockMaxErrorS == nil {
                warnings.append("shard \(s.record.index): no NTP or PTP daemon synchronises its clock; on one machine that is harmless, across machines the shards' times may disagree")
            }
        }
        guard problems.isEmpty else { throw Problems(problems: problems) }
        var merged = first.settings
        merged.shard = nil
        merged.merged = shards.map(\.record)
        merged.targetRate = first.settings.targetRate.map { $0 * Double(count) }
        merged.timerLatenessS = shards.flatMap(\.settings.timerLatenessS)
        merged.startedAt = shards.map(\.settings.startedAt).min() ?? first.settings.startedAt
        merged.runStartMonotonicS = nil
        return (merged, warnings)
    }

    /// The settings that differ between two shards, apart from what is each shard's own.
    static func settingsDifferences(_ a: RunSettings, _ b: RunSettings) -> [String] {
        func common(_ s: RunSettings) -> RunSettings {
            var s = s
            s.shard = nil
            s.startedAt = ""
            s.timerLatenessS = []
            s.runStartMonotonicS = nil
            s.provenance = nil
            s.promptCalibration = ""
            s.tokensPerWord = 0
            s.overheadTokens = 0
            return s
        }
        guard common(a) != common(b),
              let x = try? JSONSerialization.jsonObject(with: JSONEncoder().encode(common(a))) as? [String: Any],
              let y = try? JSONSerialization.jsonObject(with: JSONEncoder().encode(common(b))) as? [String: Any]
        else { return [] }
        func text(_ value: Any?) -> Data? { try? JSONSerialization.data(withJSONObject: [value ?? NSNull()], options: [.sortedKeys]) }
        return Set(x.keys).union(y.keys).sorted().filter { text(x[$0]) != text(y[$0]) }
    }

    private func ms(_ s: Double) -> String { String(format: "%.1f ms", s * 1000) }
}

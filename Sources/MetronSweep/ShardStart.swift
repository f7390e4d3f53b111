import Foundation
import MetronModel

/// Agrees the time 0 of a sharded run through a directory every shard sees (`OUT/shards/` on a shared
/// filesystem or volume), so no coordinator is needed: each shard writes `ready-I`; shard 0, once all
/// are there, writes `start_at`, a few seconds ahead; the others wait for it. Every file names the
/// plan's fingerprint, so files of another plan are never taken for this one's.
public struct ShardStart: Sendable {
    public var shard: Shard
    public var directory: URL
    public var planFingerprint: String
    /// How long a shard waits for the others.
    public var timeoutS: Double = 300
    /// How far ahead of the last shard's arrival time 0 is set: time for every shard to see it.
    public var leadS: Double = 5

    public init(shard: Shard, directory: URL, planFingerprint: String) {
        self.shard = shard
        self.directory = directory
        self.planFingerprint = planFingerprint
    }

    static let startFile = "start_at"

    /// Wall-clock Unix seconds of time 0.
    public func agree(log: @Sendable (String) -> Void = { _ in }) async throws -> Double {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try write("ready-\(shard.index)", planFingerprint)
        let deadline = Date().addingTimeInterval(timeoutS)
        if shard.index == 0 {
            log("shard 0/\(shard.count): waiting for the other shards in \(directory.path)")
            while !(0..<shard.count).allSatisfy({ read("ready-\($0)") == planFingerprint }) {
                try await wait(until: deadline, for: "every shard's ready file")
            }
            let start = wallClockSeconds() + leadS
            try write(Self.startFile, "\(planFingerprint) \(start)")
            return start
        }
        while true {
            if let line = read(Self.startFile), let start = Self.start(line, fingerprint: planFingerprint) { return start }
            try await wait(until: deadline, for: "shard 0's \(Self.startFile)")
        }
    }

    static func start(_ line: String, fingerprint: String) -> Double? {
        let parts = line.split(separator: " ")
        guard parts.count == 2, parts[0] == fingerprint else { return nil }
        return Double(parts[1])
    }

    private func wait(until deadline: Date, for what: String) async throws {
        guard Date() < deadline else {
            throw ShardError("shard \(shard): gave up after \(Int(timeoutS)) s waiting for \(what) in \(directory.path); "
                + "every shard must see the same output directory, or give every shard the same --start-at")
        }
        try await Task.sleep(nanoseconds: 100_000_000)
    }

    private func write(_ name: String, _ text: String) throws {
        let temporary = directory.appendingPathComponent(".\(name).\(ProcessInfo.processInfo.processIdentifier)")
        try Data(text.utf8).write(to: temporary)
        // rename(2) replaces the file at once, so a reader sees the old text or the new, never a part.
        guard rename(temporary.path, directory.appendingPathComponent(name).path) == 0 else {
            throw ShardError("cannot write \(directory.appendingPathComponent(name).path): \(String(cString: strerror(errno)))")
        }
    }

    private func read(_ name: String) -> String? {
        (try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

import Foundation

/// Where a result came from: which Metron measured it, with which command, on which client, against
/// which server build. Written into `run.json`, every `capacity.json` and a sweep's `provenance.json`.
public struct Provenance: Codable, Sendable, Equatable {
    /// As `metron --version` prints it.
    public var metronVersion: String
    /// The command line, secrets masked (`SecretMasking.commandLine`).
    public var commandLine: [String]
    public var sweepFileSHA256: String?
    /// UTC ISO-8601.
    public var startedAt: String
    public var endedAt: String?
    public var client: ClientHost
    /// Timer lateness measured before any load was sent.
    public var timerLatenessAtStart: LatenessSummary?
    /// What each server said about itself, one entry per system.
    public var servers: [ServerDescription]
    /// The Metron versions that measured a search's probes (version to probe directories), when
    /// they are not all `metronVersion`; probes are reused across versions by their record format.
    public var probeMetronVersions: [String: [String]]?

    public init(
        metronVersion: String, commandLine: [String], sweepFileSHA256: String? = nil, startedAt: String,
        endedAt: String? = nil, client: ClientHost, timerLatenessAtStart: LatenessSummary?, servers: [ServerDescription]
    ) {
        self.metronVersion = metronVersion
        self.commandLine = commandLine
        self.sweepFileSHA256 = sweepFileSHA256
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.client = client
        self.timerLatenessAtStart = timerLatenessAtStart
        self.servers = servers
    }

    enum CodingKeys: String, CodingKey {
        case client, servers
        case metronVersion = "metron_version", commandLine = "command_line", sweepFileSHA256 = "sweep_file_sha256"
        case startedAt = "started_at", endedAt = "ended_at", timerLatenessAtStart = "timer_lateness_at_start"
        case probeMetronVersions = "probe_metron_versions"
    }

    public static func timestamp(_ date: Date = Date()) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    /// The same provenance, ended now.
    public func ended(at date: Date = Date()) -> Provenance {
        var p = self
        p.endedAt = Self.timestamp(date)
        return p
    }

    /// A few lines for a terminal (`metron report`).
    public var text: String {
        var lines = ["measured by metron \(metronVersion)", "command: \(commandLine.joined(separator: " "))"]
        if let sweepFileSHA256 { lines.append("sweep file SHA-256: \(sweepFileSHA256)") }
        lines.append("from \(startedAt) to \(endedAt ?? "(not finished)")")
        lines.append("client: \(client.text)")
        if let l = timerLatenessAtStart { lines.append("timer lateness at start: \(l.text)") }
        for server in servers { lines.append("server \(server.system): \(server.text)") }
        for (version, probes) in (probeMetronVersions ?? [:]).sorted(by: { $0.key < $1.key }) {
            lines.append("probes measured by metron \(version): \(probes.joined(separator: ", "))")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// The machine the load generator ran on.
public struct ClientHost: Codable, Sendable, Equatable {
    /// The first `model name` of /proc/cpuinfo.
    public var cpuModel: String?
    public var cores: Int
    /// `uname -srm`.
    public var kernel: String
    /// False when the run was told to stay at normal priority.
    public var realtimeRequested: Bool
    /// Whether the engine thread ran at SCHED_FIFO priority.
    public var realtimeGranted: Bool

    public init(cpuModel: String?, cores: Int, kernel: String, realtimeRequested: Bool, realtimeGranted: Bool) {
        self.cpuModel = cpuModel
        self.cores = cores
        self.kernel = kernel
        self.realtimeRequested = realtimeRequested
        self.realtimeGranted = realtimeGranted
    }

    enum CodingKeys: String, CodingKey {
        case cores, kernel
        case cpuModel = "cpu_model", realtimeRequested = "realtime_requested", realtimeGranted = "realtime_granted"
    }

    var text: String {
        let priority = !realtimeRequested ? "off" : (realtimeGranted ? "granted" : "not granted (normal priority)")
        return "\(cpuModel ?? "unknown CPU"), \(cores) cores, \(kernel), real-time priority \(priority)"
    }
}

/// Timer lateness of a batch of short sleeps, seconds.
public struct LatenessSummary: Codable, Sendable, Equatable {
    public var samples: Int
    public var p50S: Double
    public var p99S: Double
    public var maxS: Double

    /// Nil without samples.
    public init?(_ lateness: [Double]) {
        guard !lateness.isEmpty else { return nil }
        let sorted = lateness.sorted()
        samples = sorted.count
        // Nearest rank: a summary for people, not a statistic.
        p50S = sorted[(sorted.count - 1) / 2]
        p99S = sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.99).rounded(.up)) - 1)]
        maxS = sorted[sorted.count - 1]
    }

    enum CodingKeys: String, CodingKey {
        case samples
        case p50S = "p50_s", p99S = "p99_s", maxS = "max_s"
    }

    var text: String { String(format: "p50 %.6f s, p99 %.6f s, max %.6f s over %d wake-ups", p50S, p99S, maxS, samples) }
}

/// What a server says about itself; each part it does not offer is left out and why is in `failures`.
public struct ServerDescription: Codable, Sendable, Equatable {
    public var system: String
    /// Credentials removed.
    public var url: String?
    /// The built-in simulator's configuration, for systems Metron simulates itself.
    public var simulator: String?
    /// The `/v1/models` body, trimmed.
    public var models: String?
    /// The `Server` response header.
    public var serverHeader: String?
    /// The `/version` body, trimmed.
    public var version: String?
    /// Build-information gauges of `/metrics`.
    public var buildInfo: [String]?
    /// Requests that failed; never fatal.
    public var failures: [String]

    public init(
        system: String, url: String? = nil, simulator: String? = nil, models: String? = nil, serverHeader: String? = nil,
        version: String? = nil, buildInfo: [String]? = nil, failures: [String] = []
    ) {
        self.system = system
        self.url = url
        self.simulator = simulator
        self.models = models
        self.serverHeader = serverHeader
        self.version = version
        self.buildInfo = buildInfo
        self.failures = failures
    }

    enum CodingKeys: String, CodingKey {
        case system, url, simulator, models, version, failures
        case serverHeader = "server_header", buildInfo = "build_info"
    }

    var text: String {
        var parts: [String] = []
        if let url { parts.append(url) }
        if let simulator { parts.append(simulator) }
        if let serverHeader { parts.append("Server: \(serverHeader)") }
        if let version { parts.append("/version: \(version)") }
        if let buildInfo, !buildInfo.isEmpty { parts.append("build info: \(buildInfo.joined(separator: "; "))") }
        if let models { parts.append("/v1/models: \(models)") }
        if !failures.isEmpty { parts.append("not answered: \(failures.joined(separator: "; "))") }
        return parts.joined(separator: ", ")
    }
}

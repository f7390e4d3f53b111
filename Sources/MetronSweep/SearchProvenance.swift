import Foundation
import MetronSearch
import MetronModel
import MetronLoad
import MetronReport
import MetronVersion

extension ProbeCache {
    /// The Metron that measured a stored probe, from its probe.json; nil when it was not recorded.
    public func metronVersion(of request: ProbeRequest) -> String? {
        (try? JSON.decode(Metadata.self, from: url(for: request).appendingPathComponent(Self.metadataFile)))?.metronVersion
    }
}

extension CapacityResult {
    /// The result with `provenance` (ended now) and, per probe, the Metron that measured it. A search
    /// whose probes span Metron versions says so in its warnings: reuse follows the record format,
    /// so old probes stay usable, but never silently.
    func recordingProvenance(_ provenance: Provenance?, probes cache: ProbeCache) -> CapacityResult {
        guard var provenance else { return self }
        var result = self
        var probesByVersion: [String: [String]] = [:]
        for i in result.probes.indices {
            let version = cache.metronVersion(of: result.probes[i].request)
            result.probes[i].metronVersion = version
            probesByVersion[version ?? Self.unrecordedVersion, default: []].append(result.probes[i].directory)
        }
        if probesByVersion.keys.contains(where: { $0 != provenance.metronVersion }) {
            provenance.probeMetronVersions = probesByVersion
            result.warnings.append("probes were measured by different Metron versions: " + probesByVersion
                .sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value.joined(separator: ", ")))" }.joined(separator: "; "))
        }
        result.provenance = provenance.ended()
        return result
    }
}

extension SystemConnections {
    /// What each system's server says about itself, asked once before the sweep; the built-in
    /// simulator's systems are this Metron, described by their configuration.
    public static func describeServers(sweep: SweepFile, mode: MeasurementMode) -> [ServerDescription] {
        sweep.systems.map { system in
            switch system.kind {
            case let .simulator(config):
                let how = mode == .virtual ? "virtual time" : "over HTTP on a free local port"
                return ServerDescription(
                    system: system.name,
                    simulator: "built-in simulator of metron \(MetronVersion.description): \(config.hardware.name), \(config.model.name), "
                        + "\(config.scheduler.kind.rawValue), tp \(config.tensorParallel), \(how)")
            case let .server(server):
                do {
                    return ServerSurvey.describe(system: system.name, target: try target(server, system: system.name))
                } catch {
                    return ServerDescription(system: system.name, url: ServerTarget.withoutCredentials(server.url.absoluteString),
                                             failures: ["\(error)"])
                }
            }
        }
    }
}

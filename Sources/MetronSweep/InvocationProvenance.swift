import Foundation
import MetronModel
import MetronLoad
import MetronVersion

/// The provenance of this invocation: its command line (secrets masked), the sweep file's hash,
/// the client host and the servers' self-descriptions. `endedAt` is set when the results are written.
public func invocationProvenance(
    sweepFile: String? = nil, startedAt: Date, client: ClientHost, timerLateness: [Double], servers: [ServerDescription]
) -> Provenance {
    Provenance(
        metronVersion: MetronVersion.description, commandLine: SecretMasking.commandLine(CommandLine.arguments),
        sweepFileSHA256: sweepFile.flatMap { FileManager.default.contents(atPath: $0) }.map(SHA256.hex),
        startedAt: Provenance.timestamp(startedAt), client: client, timerLatenessAtStart: LatenessSummary(timerLateness),
        servers: servers)
}

import Foundation
import MetronModel
import MetronLoad
import MetronVersion

/// The provenance of this invocation: its command line (secrets masked), the sweep file's hash,
/// the client host and the servers' self-descriptions. `endedAt` is set when the results are written.
func invocationProvenance(
    sweepFile: String? = nil, startedAt: Date, client: ClientHost, timerLateness: [Double], servers: [ServerDescription]
) -> Provenance {
    Provenance(
        metronVersion: MetronVersion.description, commandLine: SecretMasking.commandLine(CommandLine.arguments),
        sweepFileSHA256: sweepFile.flatMap { FileManager.default.contents(atPath: $0) }.map(SHA256.hex),
        startedAt: Provenance.timestamp(startedAt), client: client, timerLatenessAtStart: LatenessSummary(timerLateness),
        servers: servers)
}

extension RunCommand {
    /// The run's provenance, with the engine's own timer lateness before the run and whether it got
    /// real-time priority; the server is asked about itself after the load, so as not to delay it.
    func provenance(of result: LoadResult, startedAt: Date, target: ServerTarget) -> Provenance {
        let loadEnded = Date()
        let client = ClientSurvey.host(realtimeRequested: realtime, realtimeGranted: realtime && result.realtimeWarning == nil)
        return invocationProvenance(
            startedAt: startedAt, client: client, timerLateness: result.calibrationLateness,
            servers: [ServerSurvey.describe(system: "server", target: target)]
        ).ended(at: loadEnded)
    }
}

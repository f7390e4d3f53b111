import ArgumentParser
import MetronSim

/// The faults serve-sim injects, each a probability per request.
struct FaultOptions: ParsableArguments {
    @Option(help: "Probability of answering HTTP 429, 500 or 503.")
    var errorRate = 0.0
    @Option(help: "Probability of closing the connection after half of the tokens.")
    var disconnectRate = 0.0
    @Option(help: "Probability of stalling the stream after half of the tokens.")
    var stallRate = 0.0
    @Option(help: "Length of a stall.")
    var stallSeconds = 1.0
    @Option(help: "Probability of one event that is not valid JSON.")
    var malformedRate = 0.0
    @Option(help: "Probability of ending a stream without [DONE].")
    var noDoneRate = 0.0
    @Option(help: "Probability of holding a request before its response headers.")
    var slowHeadersRate = 0.0
    @Option(help: "Length of a slow-headers delay.")
    var slowHeadersSeconds = 1.0

    var config: FaultConfig {
        var faults = FaultConfig()
        faults.errorRate = errorRate
        faults.disconnectRate = disconnectRate
        faults.stallRate = stallRate
        faults.stallSeconds = stallSeconds
        faults.malformedRate = malformedRate
        faults.noDoneRate = noDoneRate
        faults.slowHeadersRate = slowHeadersRate
        faults.slowHeadersSeconds = slowHeadersSeconds
        return faults
    }
}

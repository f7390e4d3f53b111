import ArgumentParser
import MetronLoad

/// How long a request of `metron run` may take, and how long open ones may finish at the end.
struct RequestTimeoutOptions: ParsableArguments {
    @Option(help: "Connect timeout per request, seconds.")
    var connectTimeout: Double = 10

    @Option(help: "Timeout from send to the first content chunk, seconds.")
    var firstTokenTimeout: Double = 120

    @Option(help: "Total timeout per request, seconds.")
    var timeout: Double = 600

    @Option(help: "How long open requests may finish after the last send, seconds (default: --timeout plus 1).")
    var drainTimeout: Double?

    var timeouts: RequestTimeouts { RequestTimeouts(connect: connectTimeout, firstToken: firstTokenTimeout, total: timeout) }

    func loadOptions(maxInFlight: Int?, realtime: RealtimeMode) -> LoadOptions {
        LoadOptions(timeouts: timeouts, maxInFlight: maxInFlight, drainTimeout: drainTimeout, realtime: realtime)
    }

    var drainTimeoutS: Double { drainTimeout ?? timeout + 1 }
}

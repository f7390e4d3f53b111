import ArgumentParser
import MetronLoad

/// The load generator's thread priority: real-time where allowed unless told otherwise.
struct RealtimeOptions: ParsableArguments {
    @Flag(inversion: .prefixedNo, help: "--realtime insists on real-time (SCHED_FIFO) priority for the load generator's thread and warns when it is refused; --no-realtime keeps normal priority. Default: real-time where the process is allowed it (root, CAP_SYS_NICE), else normal; the run records which.")
    var realtime: Bool?

    var mode: RealtimeMode { realtime.map { $0 ? .on : .off } ?? .auto }
}

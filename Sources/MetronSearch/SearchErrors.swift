import Foundation
import MetronModel

/// A search that stopped on a probe that could not be run. Completed probes are kept.
public struct SearchError: Error, CustomStringConvertible {
    public var request: ProbeRequest
    public var underlying: any Error
    public var completed: [ProbeResult]
    public var description: String {
        "probe at \(String(format: "%.3f", request.rate)) req/s could not be run: \(underlying)"
            + " (\(completed.count) completed probe\(completed.count == 1 ? "" : "s") kept)"
    }
}

/// The client could not keep to its schedule at this rate, attempt after attempt: its measurements
/// say nothing about the server.
public struct ClientUnhealthy: Error, CustomStringConvertible {
    public var attempts: Int
    public var worstS: Double
    public var thresholdS: Double
    /// The last attempt's client faults, when it had any.
    public var fault: String?
    public var description: String {
        if let fault {
            return "the client failed requests itself in \(attempts) attempts (\(fault)): raise the open-files limit "
                + "(ulimit -n), free memory or local ports, or lower the rate"
        }
        return String(format: "the client fell behind its schedule in %d attempts (P99 lag or timer lateness %.1f ms, threshold %.1f ms): "
            + "run on a quieter machine, with --realtime, or raise lag_threshold_s", attempts, worstS * 1000, thresholdS * 1000)
    }
}

/// Every request of a probe failed to connect.
public struct ServerUnreachable: Error, CustomStringConvertible {
    public var requests: Int
    public var detail: String
    public var description: String { "the server is unreachable: all \(requests) requests failed to connect\(detail)" }
}

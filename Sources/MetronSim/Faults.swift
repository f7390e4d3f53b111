import MetronStats

/// Faults the server injects, each with its own probability per request, for reliability tests.
public struct FaultConfig: Sendable, Equatable {
    /// Answer with HTTP 429, 500 or 503 (chosen at random) instead of serving.
    public var errorRate = 0.0
    /// Close the connection after half of the output tokens.
    public var disconnectRate = 0.0
    /// Hold the stream for `stallSeconds` after half of the output tokens; tokens produced meanwhile are
    /// sent together when it resumes.
    public var stallRate = 0.0
    public var stallSeconds = 1.0
    /// Send one event that is not valid JSON after half of the output tokens (a non-streaming
    /// response body is cut short instead).
    public var malformedRate = 0.0
    /// End the stream without `data: [DONE]`.
    public var noDoneRate = 0.0
    /// Hold the request for `slowHeadersSeconds` before serving it (headers included).
    public var slowHeadersRate = 0.0
    public var slowHeadersSeconds = 1.0

    public init() {}

    public static let none = FaultConfig()

    public func problems() -> [String] {
        var out: [String] = []
        for (flag, p) in [
            ("error-rate", errorRate), ("disconnect-rate", disconnectRate), ("stall-rate", stallRate),
            ("malformed-rate", malformedRate), ("no-done-rate", noDoneRate), ("slow-headers-rate", slowHeadersRate),
        ] where !(p >= 0 && p <= 1) {
            out.append("--\(flag) must be a probability in [0, 1], got \(p)")
        }
        for (flag, s) in [("stall-seconds", stallSeconds), ("slow-headers-seconds", slowHeadersSeconds)]
        where !(s >= 0 && s.isFinite) {
            out.append("--\(flag) must be a non-negative number of seconds, got \(s)")
        }
        return out
    }
}

/// The faults chosen for one request.
struct FaultPlan: Equatable {
    var errorStatus: Int?
    var disconnect = false
    var stall = false
    var malformed = false
    var omitDone = false
    var slowHeaders = false

    /// Every request draws the same number of values, so one request's faults do not depend on the
    /// rates of the others.
    static func draw(_ config: FaultConfig, random: RandomSource) -> FaultPlan {
        let u = (0..<7).map { _ in random.uniform() }
        var plan = FaultPlan()
        if u[0] < config.errorRate { plan.errorStatus = [429, 500, 503][min(2, Int(u[1] * 3))] }
        plan.disconnect = u[2] < config.disconnectRate
        plan.stall = u[3] < config.stallRate
        plan.malformed = u[4] < config.malformedRate
        plan.omitDone = u[5] < config.noDoneRate
        plan.slowHeaders = u[6] < config.slowHeadersRate
        return plan
    }

    /// Tokens sent before a mid-stream fault strikes.
    static func midpoint(outputTokens: Int) -> Int { max(1, outputTokens / 2) }
}

import Foundation
import MetronStats

/// How each request's first-token deadline `D_p` is set.
public enum FirstTokenDeadline: Sendable, Equatable {
    /// The same `D_p` for every request.
    case fixed(Double)
    /// `D_p(P) = prefill(P) + slack`, with a fitted prefill-time model.
    case prefillModel(PolynomialFit, slack: Double)

    public func deadline(promptTokens: Int) -> Double {
        switch self {
        case let .fixed(d): return d
        case let .prefillModel(fit, slack): return max(0, fit(Double(promptTokens))) + slack
        }
    }

    public var summary: String {
        switch self {
        case let .fixed(d): return "fixed D_p = \(d) s"
        case let .prefillModel(fit, slack):
            let c = fit.coefficients.map { String(format: "%.4g", $0) }.joined(separator: ", ")
            return "D_p = prefill(P) + \(slack) s, prefill polynomial [\(c)]"
        }
    }
}

/// The deadlines of the fluidity-index: first token and every following token.
public struct FluidityDeadlines: Sendable, Equatable {
    public var ttft: FirstTokenDeadline
    /// `D_d`, seconds per token.
    public var tbt: Double

    public init(ttft: FirstTokenDeadline, tbt: Double) {
        self.ttft = ttft
        self.tbt = tbt
    }

    /// The reference's defaults: 0.3 s slack for the first token, 30 ms per token.
    public static let referenceDefault = FluidityDeadlines(ttft: .fixed(SLODefaults.firstTokenSlackS), tbt: SLODefaults.tbtDeadlineS)

    /// Deadline counts of one record; nil for a failed request (it counts as fluidity 0).
    public func deadlines(of record: RequestRecord) -> DeadlineCount? {
        guard record.succeeded else { return nil }
        let prompt = record.promptTokens ?? record.requestedPromptTokens
        return Fluidity.deadlines(
            record.timeline.interTokenTimes, ttftDeadline: ttft.deadline(promptTokens: prompt), tbtDeadline: tbt)
    }

    /// Per-request fluidity-index; 0 for a failed request.
    public func fluidityIndex(of record: RequestRecord) -> Double {
        deadlines(of: record)?.fluidityIndex ?? 0
    }

    /// Per-request deadline miss rate; 1 for a failed request.
    public func missRate(of record: RequestRecord) -> Double {
        deadlines(of: record)?.missRate ?? 1
    }
}

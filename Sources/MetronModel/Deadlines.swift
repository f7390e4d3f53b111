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

/// Which streamed tokens the fluidity-index counts (METRICS.md section 3).
public enum FluidityTokens: String, Sendable, Codable, CaseIterable {
    /// Every streamed token, reasoning included, from the request's arrival: what a streaming client
    /// receives, and the reference's definition.
    case all
    /// Visible tokens only: the clock starts at the first visible token, which has no deadline of its
    /// own, and each later visible token has `D_d`. A request without a visible token misses one
    /// deadline (its answer never came).
    case visible

    /// As results files keep it: nil for the default, so files of runs that did not choose stay as
    /// they were.
    public var recorded: FluidityTokens? { self == SLODefaults.fluidityTokens ? nil : self }
}

/// The deadlines of the fluidity-index: first token and every following token.
public struct FluidityDeadlines: Sendable, Equatable {
    public var ttft: FirstTokenDeadline
    /// `D_d`, seconds per token.
    public var tbt: Double
    public var tokens: FluidityTokens

    public init(ttft: FirstTokenDeadline, tbt: Double, tokens: FluidityTokens = SLODefaults.fluidityTokens) {
        self.ttft = ttft
        self.tbt = tbt
        self.tokens = tokens
    }

    /// The reference's defaults: 0.3 s slack for the first token, 30 ms per token, every token.
    public static let referenceDefault = FluidityDeadlines(ttft: .fixed(SLODefaults.firstTokenSlackS), tbt: SLODefaults.tbtDeadlineS)

    /// Deadline counts of one record; nil for a failed request (it counts as fluidity 0).
    public func deadlines(of record: RequestRecord) -> DeadlineCount? {
        guard record.succeeded else { return nil }
        return deadlines(of: record, interTokenTimes: record.timeline.interTokenTimes)
    }

    /// Deadline counts of a successful record whose `timeline.interTokenTimes` the caller has already.
    public func deadlines(of record: RequestRecord, interTokenTimes x: [Double]) -> DeadlineCount {
        switch tokens {
        case .all:
            let prompt = record.promptTokens ?? record.requestedPromptTokens
            return Fluidity.deadlines(x, ttftDeadline: ttft.deadline(promptTokens: prompt), tbtDeadline: tbt)
        case .visible:
            let visible = record.chunkReasoningTokens == nil ? x : record.visibleTimeline.interTokenTimes
            if visible.isEmpty { return DeadlineCount(missed: 1, total: 1) }
            return Fluidity.deadlines(visible, ttftDeadline: 0, tbtDeadline: tbt, ignoreFirstToken: true)
        }
    }

    public var summary: String {
        switch tokens {
        case .all: return "\(ttft.summary), D_d = \(compactNumber(tbt)) s"
        case .visible: return "visible tokens only, from the first, D_d = \(compactNumber(tbt)) s"
        }
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

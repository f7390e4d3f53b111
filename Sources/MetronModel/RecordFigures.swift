import MetronStats

/// Token-level TBTs and inter-chunk gaps pooled over requests, for exact quantiles in two passes.
struct PooledGaps {
    var tbt = TwoPassQuantiles(quantiles: Distribution.reportedQuantiles)
    var chunk = TwoPassQuantiles(quantiles: Distribution.reportedQuantiles)

    mutating func addFirstPass(interTokenTimes x: [Double], chunkTimes: [Double]) {
        tbt.addFirstPass(contentsOf: x.dropFirst())
        chunk.addFirstPass(gapsOf: chunkTimes)
    }

    /// Prepares the second pass; nil when none is needed.
    mutating func beginSecondPass() -> SecondPassFilter? {
        tbt.beginSecondPass()
        chunk.beginSecondPass()
        guard tbt.needsSecondPass || chunk.needsSecondPass else { return nil }
        return SecondPassFilter(tbt: tbt.filter, chunk: chunk.filter)
    }

    mutating func add(_ kept: KeptGaps) {
        for x in kept.tbt { tbt.addKept(x) }
        if kept.tbtZeros > 0 { tbt.addKept(0, times: kept.tbtZeros) }
        for x in kept.chunk { chunk.addKept(x) }
    }
}

/// What the second pass of a summary looks for in each record: pure, so it can run on any thread.
public struct SecondPassFilter: Sendable {
    let tbt: TwoPassQuantiles.Filter, chunk: TwoPassQuantiles.Filter

    public func kept(in record: RequestRecord) -> KeptGaps {
        var kept = KeptGaps()
        guard record.succeeded else { return kept }
        let times = record.chunkTimesS, tokens = record.chunkTokens
        if times.count == tokens.count, tokens.allSatisfy({ $0 > 0 }) {
            // Every chunk carries a token, as a rule: the token gaps are then the chunk gaps,
            // each tested once against both filters.
            times.withUnsafeBufferPointer { t in
                for i in t.indices.dropFirst() {
                    let x = t[i] - t[i - 1], key = TwoPassQuantiles.bucket(x)
                    if tbt.wants(bucket: key) { kept.tbt.append(x) }
                    if chunk.wants(bucket: key) { kept.chunk.append(x) }
                }
            }
            let zeros = tokens.reduce(0, +) - tokens.count
            if zeros > 0 && tbt.wants(0) { kept.tbtZeros = zeros }
            return kept
        }
        // `interTokenTimes.dropFirst()` without building it: each chunk's gap, then a zero for each
        // further token of the chunk.
        var previous = record.scheduledS, first = true, zeros = 0
        for (t, k) in zip(record.chunkTimesS, record.chunkTokens) where k > 0 {
            if !first, case let x = t - previous, tbt.wants(x) { kept.tbt.append(x) }
            first = false
            zeros += k - 1
            previous = t
        }
        if zeros > 0 && tbt.wants(0) { kept.tbtZeros = zeros }
        kept.chunk = chunk.wantedGaps(of: record.chunkTimesS)
        return kept
    }
}

/// The pooled gaps of one record that the second pass keeps.
public struct KeptGaps: Sendable {
    var tbt: [Double] = [], tbtZeros = 0, chunk: [Double] = []
}

/// What the first pass of a summary takes from one record: computed from the record alone, so
/// anywhere, and added to the summary in the records' order.
public struct RecordFigures: Sendable {
    let scheduled: Double, sent: Double?, lag: Double?, end: Double
    let status: RequestStatus
    let clientFaultText: String?
    /// The turn's index in its session; nil for a request that stands alone.
    let turn: Int?
    /// Set for a successful request only.
    let success: Success?

    struct Success: Sendable {
        let interTokenTimes: [Double], chunkTimes: [Double]
        let ttft: Double?, ttfot: Double?, tpot: Double?, e2e: Double?, normalizedLatency: Double?
        let promptTokens: Int?, outputTokens: Int
        /// nil when the stream carried no reasoning.
        let reasoningTokens: Int?
        let cachedPromptTokens: Int?
        let deadlines: DeadlineCount
        let minDeadline: Double, referenceTPOT: Double
    }

    public init(_ r: RequestRecord, deadlines: FluidityDeadlines) {
        scheduled = r.scheduledS
        sent = r.sentS
        lag = r.clientLag
        end = r.chunkTimesS.last ?? r.sentS ?? r.scheduledS
        status = r.status
        clientFaultText = r.status == .clientError ? r.error : nil
        turn = r.turn
        guard r.succeeded else {
            success = nil
            return
        }
        let timeline = r.timeline
        let x = timeline.interTokenTimes
        success = Success(
            interTokenTimes: x, chunkTimes: r.chunkTimesS, ttft: timeline.ttft, ttfot: r.firstOutputS.map { $0 - r.scheduledS },
            tpot: timeline.tpot, e2e: timeline.endToEnd, normalizedLatency: timeline.normalizedLatency,
            promptTokens: r.promptTokens, outputTokens: timeline.tokenCount,
            reasoningTokens: r.chunkReasoningTokens == nil ? nil : r.reasoningTokens, cachedPromptTokens: r.cachedPromptTokens,
            deadlines: deadlines.deadlines(of: r, interTokenTimes: x),
            minDeadline: x.isEmpty ? ServiceMetrics.minDeadlineForThroughput(tokenLevelTBT: [])
                : ServiceMetrics.minDeadlineForThroughput(interTokenTimes: x),
            referenceTPOT: ServiceMetrics.referenceTPOT(tokenLevelTBT: x.dropFirst()))
    }
}

/// One number per request, gathered in a single pass.
struct PerRequestFigures {
    var count = 0, ok = 0
    var errors: [String: Int] = [:]
    var scheduled: [Double] = [], sent: [Double] = [], end: [Double] = [], lag: [Double] = []
    var ttft: [Double] = [], ttfot: [Double] = [], tpot: [Double] = [], e2e: [Double] = [], normalizedLatency: [Double] = []
    var reasoning = ReasoningUse()
    var promptTokens: [Double] = [], outputTokens: [Double] = []
    var fluidity: [Double] = [], minDeadlines: [Double] = [], referenceTPOTs: [Double] = []
    var serviceDeadlines = DeadlineCount()
    var clientFaults = ClientFaults()
    var promptCache = PromptCacheUse(requests: 0, cachedTokens: 0, promptTokens: 0)
    /// By turn index, for the requests of sessions.
    var turns: [Int: TurnFigures] = [:]
    /// Scheduled times of the sessions' first turns.
    var sessionStarts: [Double] = []

    mutating func add(_ f: RecordFigures, pooling pooled: inout PooledGaps) {
        count += 1
        if let turn = f.turn {
            turns[turn, default: TurnFigures()].add(f)
            if turn == 0 { sessionStarts.append(f.scheduled) }
        }
        clientFaults.add(status: f.status, error: f.clientFaultText)
        scheduled.append(f.scheduled)
        if let s = f.sent { sent.append(s) }
        if let l = f.lag { lag.append(l) }
        end.append(f.end)
        guard let s = f.success else {
            errors[f.status.rawValue, default: 0] += 1
            fluidity.append(0)
            return
        }
        ok += 1
        pooled.addFirstPass(interTokenTimes: s.interTokenTimes, chunkTimes: s.chunkTimes)
        if let v = s.ttft { ttft.append(v) }
        if let v = s.ttfot { ttfot.append(v) }
        reasoning.add(reasoningTokens: s.reasoningTokens, visibleOutput: s.ttfot != nil)
        if let v = s.tpot { tpot.append(v) }
        if let v = s.e2e { e2e.append(v) }
        if let v = s.normalizedLatency { normalizedLatency.append(v) }
        if let v = s.promptTokens { promptTokens.append(Double(v)) }
        outputTokens.append(Double(s.outputTokens))
        if let cached = s.cachedPromptTokens, let prompt = s.promptTokens {
            promptCache.requests += 1
            promptCache.cachedTokens += cached
            promptCache.promptTokens += prompt
        }
        fluidity.append(s.deadlines.fluidityIndex)
        serviceDeadlines = serviceDeadlines + s.deadlines
        minDeadlines.append(s.minDeadline)
        referenceTPOTs.append(s.referenceTPOT)
    }
}

/// The per-request figures of one turn index.
struct TurnFigures {
    var count = 0, ok = 0
    var ttft: [Double] = [], e2e: [Double] = [], promptTokens: [Double] = [], fluidity: [Double] = []
    var cachedTokens = 0, cachedOf = 0

    mutating func add(_ f: RecordFigures) {
        count += 1
        guard let s = f.success else {
            fluidity.append(0)
            return
        }
        ok += 1
        if let v = s.ttft { ttft.append(v) }
        if let v = s.e2e { e2e.append(v) }
        if let v = s.promptTokens { promptTokens.append(Double(v)) }
        if let cached = s.cachedPromptTokens, let prompt = s.promptTokens {
            cachedTokens += cached
            cachedOf += prompt
        }
        fluidity.append(s.deadlines.fluidityIndex)
    }
}

extension TwoPassQuantiles {
    var distribution: Distribution {
        let q = results()
        return Distribution(
            count: count, mean: count > 0 ? sum / Double(count) : nil, min: count > 0 ? min : nil,
            p50: q[0], p90: q[1], p99: q[2], max: count > 0 ? max : nil)
    }
}

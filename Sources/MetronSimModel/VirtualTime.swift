import MetronModel

/// Runs a whole probe in virtual time: every planned request arrives at its planned time, the engine
/// iterates back to back while it has work, and each token's emission time is its iteration's end.
/// Event-driven (time jumps to the next arrival when idle), so thousands of requests take milliseconds.
///
/// - Parameters:
///   - requests: the plan; arrivals in seconds from the run's start (need not be sorted).
///   - config: the simulated deployment.
///   - drainLimitS: when given, requests unfinished at this time are returned as `cancelled` with the
///     tokens they had by then.
/// - Returns: one record per planned request, in the plan's order. `scheduledS` and `sentS` are the
///   arrival; `chunkTimesS` holds one entry per token, and `chunkReasoningTokens` marks the reasoning
///   tokens of a configuration that reasons (`ReasoningDraws`), as the chat API streams them. Requests the server could never serve (too long
///   for the model or the KV cache) are `httpError` 400 records, as a real server answers them.
public func simulateInVirtualTime(
    _ requests: [PlannedRequest], config: SimulatorConfig, drainLimitS: Double? = nil
) throws -> [RequestRecord] {
    var engine = try ServingEngine(config: config)
    var records = requests.map { planned in
        RequestRecord(
            id: planned.id, scheduledS: planned.arrival, sentS: planned.arrival,
            requestedPromptTokens: planned.promptTokens, requestedOutputTokens: planned.outputTokens)
    }
    // Engine ids are positions in the plan, so duplicate plan ids cannot collide.
    let order = requests.indices.sorted { (requests[$0].arrival, $0) < (requests[$1].arrival, $1) }
    let reasoning = ReasoningDraws(config)
    var reasoningTokens = [Int](repeating: 0, count: requests.count)
    var next = 0
    var now = 0.0
    let limit = drainLimitS ?? .infinity

    func admitArrivals(upTo time: Double) {
        while next < order.count, requests[order[next]].arrival <= time {
            let index = order[next]
            let planned = requests[index]
            next += 1
            reasoningTokens[index] = reasoning.next(outputTokens: planned.outputTokens)
            let request = ServingRequest(
                id: index, promptTokens: planned.promptTokens, outputTokens: planned.outputTokens,
                blockHashes: config.prefixCaching ? PromptBlocks.hashes(for: planned, uniqueID: index) : [])
            if let why = engine.submit(request) {
                records[index].status = .httpError
                records[index].httpStatus = 400
                records[index].error = why.description
            }
        }
    }

    while true {
        admitArrivals(upTo: now)
        if engine.isIdle {
            guard next < order.count else { break }
            now = max(now, requests[order[next]].arrival)
            continue
        }
        guard let iteration = engine.planIteration() else {
            // Everything waiting is blocked until something arrives; nothing running can free it.
            guard next < order.count else { break }
            now = max(now, requests[order[next]].arrival)
            continue
        }
        let end = now + iteration.durationS
        if end > limit { break }
        now = end
        for token in engine.complete(iteration) {
            records[token.requestID].chunkTimesS.append(now)
            records[token.requestID].chunkTokens.append(1)
            // As the HTTP front reports it: only a server that caches prefixes says how many it reused.
            if config.prefixCaching { records[token.requestID].cachedPromptTokens = token.cachedPromptTokens }
        }
    }
    for i in records.indices where records[i].status == .ok {
        let produced = records[i].chunkTimesS.count
        records[i].promptTokens = requests[i].promptTokens
        records[i].outputTokens = produced
        if reasoningTokens[i] > 0 {
            records[i].chunkReasoningTokens = (0..<produced).map { $0 < reasoningTokens[i] ? 1 : 0 }
        }
        if produced < requests[i].outputTokens {
            records[i].status = .cancelled
            records[i].error = "unfinished at the drain limit of \(limit) s"
        }
    }
    return records
}

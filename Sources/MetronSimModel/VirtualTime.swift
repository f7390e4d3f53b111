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
        var record = RequestRecord(
            id: planned.id, scheduledS: planned.arrival, sentS: planned.arrival,
            requestedPromptTokens: planned.promptTokens, requestedOutputTokens: planned.outputTokens)
        record.session = planned.turn?.session
        record.turn = planned.turn?.index
        return record
    }
    // Engine ids are positions in the plan, so duplicate plan ids cannot collide.
    let order = requests.indices.filter { !requests[$0].followsAnswer }
        .sorted { (requests[$0].arrival, $0) < (requests[$1].arrival, $1) }
    let nextTurn = try requests.nextTurnPositions()
    /// Turns whose answer before them has ended, by when each is due, in time order.
    var dueTurns: [(time: Double, index: Int)] = []
    var unsentTurns = Set(nextTurn.values)
    let reasoning = ReasoningDraws(config)
    var reasoningTokens = [Int](repeating: 0, count: requests.count)
    var next = 0
    var now = 0.0
    let limit = drainLimitS ?? .infinity

    func answerEnded(_ index: Int, at time: Double) {
        guard let following = nextTurn[index] else { return }
        let due = time + (requests[following].turn?.thinkTimeS ?? 0)
        dueTurns.insert((due, following), at: dueTurns.firstIndex { $0.time > due } ?? dueTurns.endIndex)
    }

    /// The time of the next arrival, planned or a turn that follows an answer.
    func nextArrival() -> Double? {
        let planned = next < order.count ? requests[order[next]].arrival : nil
        guard let turn = dueTurns.first?.time else { return planned }
        return min(planned ?? turn, turn)
    }

    func admitArrivals(upTo time: Double) {
        while let arrival = nextArrival(), arrival <= time {
            let index: Int
            if let turn = dueTurns.first, turn.time == arrival {
                index = turn.index
                dueTurns.removeFirst()
                unsentTurns.remove(index)
                records[index].scheduledS = arrival
                records[index].sentS = arrival
            } else {
                index = order[next]
                next += 1
            }
            let planned = requests[index]
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
            guard let arrival = nextArrival(), arrival <= limit else { break }
            now = max(now, arrival)
            continue
        }
        guard let iteration = engine.planIteration() else {
            // Everything waiting is blocked until something arrives; nothing running can free it.
            guard let arrival = nextArrival(), arrival <= limit else { break }
            now = max(now, arrival)
            continue
        }
        let end = now + iteration.durationS
        if end > limit { break }
        now = end
        for token in engine.complete(iteration) {
            let id = token.requestID
            records[id].chunkTimesS.append(now)
            records[id].chunkTokens.append(1)
            // As the HTTP front reports it: only a server that caches prefixes says how many it reused.
            if config.prefixCaching { records[id].cachedPromptTokens = token.cachedPromptTokens }
            if records[id].chunkTimesS.count == requests[id].outputTokens { answerEnded(id, at: now) }
        }
    }
    // Turns whose answer before them failed or never ended are never sent, nor any turn after them.
    for (before, following) in nextTurn.sorted(by: { requests[$0.value].turn!.index < requests[$1.value].turn!.index })
    where unsentTurns.contains(following) {
        // Counted where the session broke.
        records[following].scheduledS = records[before].scheduledS
    }
    for i in records.indices where unsentTurns.contains(i) {
        records[i].sentS = nil
        records[i].status = .sessionEnded
        records[i].error = "never sent: the session's turn before it did not finish"
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

/// The two iteration-level schedulers (`SchedulerKind`) and the admission and preemption they share.
extension ServingEngine {
    /// Admits the waiting head if it fits the batch and the cache; allocates its whole prefill target,
    /// taking the blocks the prefix cache already holds as computed. `tokenLimit` bounds the tokens
    /// left to prefill.
    mutating func admitHead(tokenLimit: Int) -> Int? {
        guard let id = waiting.first, running.count < config.scheduler.maxBatchSize else { return nil }
        let target = sequences[id]!.prefillTarget
        let hit = prefixCacheHit(id)
        guard target - hit.blocks * CostModel.blockTokens <= tokenLimit else { return nil }
        let need = blocks(target) - hit.blocks
        guard need + hit.evictable + watermarkBlocks <= freeBlocks else { return nil }
        waiting.removeFirst()
        if prefixCache != nil { holdCachedBlocks(id, count: hit.blocks) }
        takeFreeBlocks(need)
        sequences[id]!.blocks += need
        running.append(id)
        return id
    }

    /// Makes room for one more token of `id`, preempting the youngest sequences (recompute) as needed.
    /// False when `id` itself had to be preempted.
    mutating func reserveDecodeSlot(_ id: Int) -> Bool {
        let need = blocks(sequences[id]!.computed + 1) - sequences[id]!.blocks
        if need <= 0 { return true }
        while freeBlocks < need {
            let victim = running.last!
            preempt(victim)
            if victim == id { return false }
        }
        takeFreeBlocks(need)
        sequences[id]!.blocks += need
        return true
    }

    /// Recompute preemption: the cache is dropped and the sequence waits at the front of the queue to
    /// prefill its prompt and the tokens it already produced.
    mutating func preempt(_ id: Int) {
        var seq = sequences[id]!
        releaseBlocks(of: seq)
        seq.blocks = 0
        seq.heldHashes = []
        seq.nextBlockToCache = 0
        seq.computed = 0
        seq.prefillTarget = seq.promptTokens + seq.generated
        sequences[id] = seq
        running.removeAll { $0 == id }
        waiting.prepend(id)
        stats.preemptions += 1
    }

    mutating func planPrefillFirst() -> [Iteration.Item] {
        var items: [Iteration.Item] = []
        var budget = maxBatchedTokens
        while let id = admitHead(tokenLimit: budget) {
            let uncached = sequences[id]!.prefillTarget - sequences[id]!.computed
            items.append(.prefill(requestID: id, chunk: uncached))
            budget -= uncached
        }
        if !items.isEmpty { return items }
        var index = 0
        while index < running.count {
            let id = running[index]
            if reserveDecodeSlot(id) {
                items.append(.decode(requestID: id))
                index += 1
            }
        }
        return items
    }

    mutating func planChunked() -> [Iteration.Item] {
        var items: [Iteration.Item] = []
        var budget = config.scheduler.tokenBudget
        // Decodes first, never stalled.
        var index = 0
        while index < running.count {
            let id = running[index]
            if sequences[id]!.prefilling { index += 1; continue }
            if reserveDecodeSlot(id) {
                items.append(.decode(requestID: id))
                budget -= 1
                index += 1
            }
        }
        // Then prompts already under way, then new ones, in chunks filling what is left.
        for id in running where budget > 0 && sequences[id]!.prefilling {
            let seq = sequences[id]!
            let chunk = min(seq.prefillTarget - seq.computed, budget)
            items.append(.prefill(requestID: id, chunk: chunk))
            budget -= chunk
        }
        while budget > 0, let id = admitHead(tokenLimit: .max) {
            let chunk = min(sequences[id]!.prefillTarget - sequences[id]!.computed, budget)
            items.append(.prefill(requestID: id, chunk: chunk))
            budget -= chunk
        }
        return items
    }
}

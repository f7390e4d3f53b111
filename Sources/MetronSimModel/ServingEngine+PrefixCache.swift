/// How the engine's KV blocks meet the prefix cache: blocks found cached at admission are held, not
/// allocated, and not prefilled; a prompt's full blocks enter the cache as their prefill completes;
/// a finished, cancelled or preempted request's blocks stay cached until an allocation evicts them.
/// Without prefix caching every method here does what plain block counting does.
extension ServingEngine {
    /// Leading prompt blocks of `id` the cache holds, and how many of them are evictable (they stop
    /// counting as free once held). At least one token is always left to compute, as in vLLM, so a
    /// request's first token comes out of a prefill step.
    func prefixCacheHit(_ id: Int) -> (blocks: Int, evictable: Int) {
        guard let cache = prefixCache else { return (0, 0) }
        let seq = sequences[id]!
        let usable = min(seq.blockHashes.count, (seq.prefillTarget - 1) / CostModel.blockTokens)
        let hits = cache.leadingHits(seq.blockHashes.prefix(usable))
        let evictable = seq.blockHashes.prefix(hits).filter { !cache.isHeld($0) }.count
        return (hits, evictable)
    }

    /// Holds the first `count` prompt blocks of a sequence being admitted, counts the lookup, and
    /// starts its prefill after them.
    mutating func holdCachedBlocks(_ id: Int, count: Int) {
        var seq = sequences[id]!
        for hash in seq.blockHashes.prefix(count) where prefixCache!.acquire(hash) { freeBlocks -= 1 }
        let cachedTokens = count * CostModel.blockTokens
        seq.heldHashes = Array(seq.blockHashes.prefix(count))
        seq.blocks = count
        seq.nextBlockToCache = count
        seq.computed = cachedTokens
        if seq.cachedPromptTokens == nil { seq.cachedPromptTokens = cachedTokens }
        sequences[id] = seq
        stats.prefixQueries += seq.prefillTarget
        stats.prefixHits += cachedTokens
    }

    /// Takes `n` free blocks: empty ones first, then the least recently released cached ones.
    mutating func takeFreeBlocks(_ n: Int) {
        precondition(n <= freeBlocks, "taking \(n) of \(freeBlocks) free blocks")
        if let cache = prefixCache {
            let empty = freeBlocks - cache.evictableCount
            if n > empty { prefixCache!.evict(n - empty) }
        }
        freeBlocks -= n
    }

    /// Returns a sequence's blocks: its own become empty, its cached ones evictable once no other
    /// request holds them. Released last block first, so a prompt's tail is evicted before its head.
    mutating func releaseBlocks(of seq: Sequence) {
        freeBlocks += seq.blocks - seq.heldHashes.count
        for hash in seq.heldHashes.reversed() where prefixCache!.release(hash) { freeBlocks += 1 }
    }

    /// Forgets every cached block no running request holds (vLLM's `/reset_prefix_cache`); they were
    /// free already, so only later hits change.
    public mutating func resetPrefixCache() {
        guard let evictable = prefixCache?.evictableCount else { return }
        prefixCache!.evict(evictable)
    }

    /// Offers the prompt blocks `id` has now fully computed to the cache.
    mutating func cacheComputedBlocks(of id: Int) {
        var seq = sequences[id]!
        let full = min(seq.computed / CostModel.blockTokens, seq.blockHashes.count)
        guard seq.nextBlockToCache < full else { return }
        for hash in seq.blockHashes[seq.nextBlockToCache..<full] where prefixCache!.insert(hash) {
            seq.heldHashes.append(hash)
        }
        seq.nextBlockToCache = full
        sequences[id] = seq
    }
}

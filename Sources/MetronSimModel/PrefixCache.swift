import MetronModel

/// The identities of a prompt's full KV blocks, as vLLM's automatic prefix caching sees them: block
/// `i` is named by a hash chained over block `i - 1`'s hash and its own tokens, so two prompts share
/// block `i` only when they agree on every token up to its end. A partial last block has no identity.
public enum PromptBlocks {
    public static let tokensPerBlock = CostModel.blockTokens

    /// The chained hashes of the full blocks of `tokens` (one identity per token, in prompt order).
    public static func hashes(ofTokens tokens: [UInt64]) -> [UInt64] {
        var out: [UInt64] = []
        out.reserveCapacity(tokens.count / tokensPerBlock)
        var previous: UInt64 = 0
        var start = 0
        while start + tokensPerBlock <= tokens.count {
            var content: UInt64 = 0
            for token in tokens[start..<(start + tokensPerBlock)] { content = mix(content ^ token) }
            previous = chain(previous, content)
            out.append(previous)
            start += tokensPerBlock
        }
        return out
    }

    /// A planned request's blocks in virtual time: the blocks inside its shared prefix are named by the
    /// prefix alone, so every request with that prefix shares them; the rest are its own, named by
    /// `uniqueID` (unique within one run), or for a turn of a session by the session, so each turn
    /// begins with the blocks of the turn before it.
    public static func hashes(for request: PlannedRequest, uniqueID: Int) -> [UInt64] {
        let count = request.promptTokens / tokensPerBlock
        let sharedBlocks = min(count, (request.sharedPrefix?.tokens ?? 0) / tokensPerBlock)
        let prefix = UInt64(truncatingIfNeeded: request.sharedPrefix?.index ?? 0)
        var out: [UInt64] = []
        out.reserveCapacity(count)
        var previous: UInt64 = 0
        let own = request.turn.map { mix(0x5345_5353 ^ mix(UInt64(truncatingIfNeeded: $0.session))) }
            ?? mix(0x4F57_4E ^ mix(UInt64(truncatingIfNeeded: uniqueID)))
        // Different salts keep a prefix's blocks apart from every request's own.
        for block in 0..<count {
            let content =
                block < sharedBlocks
                ? mix(mix(0x5348_4152_4544 ^ prefix) ^ UInt64(block))
                : mix(own ^ UInt64(block))
            previous = chain(previous, content)
            out.append(previous)
        }
        return out
    }

    /// The identity of one token piece of the simulator's tokenizer (FNV-1a over its UTF-8).
    public static func tokenIdentity<S: StringProtocol>(_ piece: S) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in piece.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }

    /// The identity of a token given by id (a prompt of token ids); apart from every piece's.
    public static func tokenIdentity(id: Int) -> UInt64 { mix(0x4944 ^ mix(UInt64(truncatingIfNeeded: id))) }

    static func chain(_ previous: UInt64, _ content: UInt64) -> UInt64 { mix(mix(previous) ^ content) }

    /// SplitMix64's finaliser: a bijection that spreads every input bit over the output.
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The KV blocks kept for reuse, by block hash. A block some running request holds stays; one no
/// request holds is evictable, and the least recently released goes first when the engine needs
/// room. Evictable blocks count as free KV capacity: they are reused or overwritten, never extra.
struct PrefixCache: Sendable {
    private struct Entry: Sendable {
        var holders: Int
        // Neighbours in the eviction order while evictable (holders == 0).
        var older: UInt64?
        var newer: UInt64?
    }

    private var entries: [UInt64: Entry] = [:]
    private var oldest: UInt64?
    private var newest: UInt64?
    private(set) var evictableCount = 0

    var count: Int { entries.count }

    func contains(_ hash: UInt64) -> Bool { entries[hash] != nil }

    /// True when some running request holds the block.
    func isHeld(_ hash: UInt64) -> Bool { (entries[hash]?.holders ?? 0) > 0 }

    /// How many of `hashes`, from the first, are cached.
    func leadingHits(_ hashes: ArraySlice<UInt64>) -> Int {
        var n = 0
        for hash in hashes {
            guard entries[hash] != nil else { break }
            n += 1
        }
        return n
    }

    /// Takes a hold on a cached block; true when it was evictable (it stops counting as free).
    mutating func acquire(_ hash: UInt64) -> Bool {
        guard let entry = entries[hash] else { preconditionFailure("block \(hash) is not cached") }
        let wasEvictable = entry.holders == 0
        if wasEvictable { unlink(hash, entry) }
        entries[hash]!.holders += 1
        return wasEvictable
    }

    /// Caches a block just computed, held by its request; false when the hash is already cached
    /// (another request computed the same block too), and the block stays the request's own.
    mutating func insert(_ hash: UInt64) -> Bool {
        guard entries[hash] == nil else { return false }
        entries[hash] = Entry(holders: 1)
        return true
    }

    /// Drops a hold; true when no request holds the block any more (it becomes evictable, newest).
    mutating func release(_ hash: UInt64) -> Bool {
        guard var entry = entries[hash], entry.holders > 0 else { preconditionFailure("block \(hash) is not held") }
        entry.holders -= 1
        guard entry.holders == 0 else {
            entries[hash] = entry
            return false
        }
        entry.older = newest
        entry.newer = nil
        entries[hash] = entry
        if let newest { entries[newest]!.newer = hash } else { oldest = hash }
        newest = hash
        evictableCount += 1
        return true
    }

    /// Forgets the `n` least recently released evictable blocks.
    mutating func evict(_ n: Int) {
        precondition(n <= evictableCount, "evicting \(n) of \(evictableCount) evictable blocks")
        for _ in 0..<n {
            let hash = oldest!
            unlink(hash, entries[hash]!)
            entries[hash] = nil
        }
    }

    private mutating func unlink(_ hash: UInt64, _ entry: Entry) {
        if let older = entry.older { entries[older]!.newer = entry.newer } else { oldest = entry.newer }
        if let newer = entry.newer { entries[newer]!.older = entry.older } else { newest = entry.older }
        entries[hash]!.older = nil
        entries[hash]!.newer = nil
        evictableCount -= 1
    }
}

import MetronModel

/// Turns the timed events of one response stream into chunk times and token counts.
///
/// Token rule: every cumulative `usage.completion_tokens` the server streams covers the content
/// chunks received since the previous one. A count covering one chunk gives it exactly the growth;
/// a count covering several (a server sending usage only at the end) is spread over them in
/// proportion to the characters of their text, by largest remainder, each chunk at least one token.
/// Chunks no count covers get one token each. Tokens a count reports after the last content chunk
/// are added to that chunk: they had certainly arrived by then and no earlier time is known. When
/// the server counts fewer tokens than chunks, each chunk keeps one token and `outputTokens` keeps
/// the server's figure.
///
/// Reasoning rule: the tokens of a chunk with reasoning text only are reasoning tokens, those of a
/// chunk with visible text only are visible. A chunk carrying both splits its tokens by the
/// characters of each text (largest remainder again) and keeps at least one visible token: the
/// answer starts there.
public struct StreamAccounting: Sendable, Equatable {
    public private(set) var chunkTimes: [Double] = []
    public private(set) var chunkTokens: [Int] = []
    public private(set) var promptTokens: Int?
    /// Prompt tokens the server reported taking from its prefix cache.
    public private(set) var cachedPromptTokens: Int?
    /// The largest cumulative `completion_tokens` seen.
    public private(set) var reportedCompletionTokens: Int?
    public private(set) var sawDone = false
    /// The first problem of the stream (a malformed chunk or an error event).
    public private(set) var streamError: String?
    public private(set) var events = 0
    /// Text lengths of the trailing content chunks that no count has covered yet.
    private var uncoveredLengths: [Int] = []
    /// Tokens of the chunks before the uncovered ones.
    private var covered = 0
    /// Set once a count covered more than one chunk.
    private var spreadOverChunks = false
    /// Reasoning and visible characters of each content chunk, once the stream has carried reasoning
    /// (the chunks before were visible); empty until then.
    private var textShares: [TextShare] = []

    private struct TextShare: Sendable, Equatable {
        var reasoning: Int, visible: Int
    }

    public init() {}

    public mutating func consume(_ facts: ChunkFacts, at time: Double) {
        events += 1
        if sawDone { return }
        switch facts.kind {
        case .done:
            sawDone = true
            return
        case let .error(text):
            if streamError == nil { streamError = "server reported an error in the stream: \(text)" }
            return
        case let .malformed(text):
            if streamError == nil { streamError = "malformed chunk: \(text)" }
            return
        case .chunk:
            break
        }
        if let p = facts.promptTokens { promptTokens = p }
        if let c = facts.cachedPromptTokens { cachedPromptTokens = c }
        if facts.hasContent {
            chunkTimes.append(time)
            chunkTokens.append(1)
            uncoveredLengths.append(facts.contentLength)
            if facts.reasoningLength > 0 || !textShares.isEmpty {
                if textShares.isEmpty {
                    textShares = Array(repeating: TextShare(reasoning: 0, visible: 1), count: chunkTimes.count - 1)
                }
                textShares.append(TextShare(reasoning: facts.reasoningLength, visible: facts.contentLength - facts.reasoningLength))
            }
        }
        if let c = facts.completionTokens {
            reportedCompletionTokens = max(reportedCompletionTokens ?? 0, c)
            cover(upTo: c)
        }
    }

    /// Gives the chunks since the previous count the tokens the cumulative count `total` adds.
    private mutating func cover(upTo total: Int) {
        let added = total - covered
        guard !uncoveredLengths.isEmpty else {
            if added > 0, !chunkTokens.isEmpty {
                chunkTokens[chunkTokens.count - 1] += added
                covered = total
            }
            return
        }
        if uncoveredLengths.count > 1 { spreadOverChunks = true }
        let shares = Self.apportion(added, weights: uncoveredLengths)
        let first = chunkTokens.count - shares.count
        for (offset, share) in shares.enumerated() { chunkTokens[first + offset] = share }
        covered += shares.reduce(0, +)
        uncoveredLengths.removeAll(keepingCapacity: true)
    }

    /// Which rule gave the chunks their tokens; nil without content chunks.
    public var tokenRule: TokenRule? {
        guard !chunkTimes.isEmpty else { return nil }
        if reportedCompletionTokens == nil || uncoveredLengths.count == chunkTimes.count { return .onePerChunk }
        return spreadOverChunks || !uncoveredLengths.isEmpty ? .apportionedByText : .perChunkUsage
    }

    /// Reasoning tokens of each content chunk (each at most its `chunkTokens`); nil when no chunk
    /// carried reasoning.
    public var chunkReasoningTokens: [Int]? {
        guard !textShares.isEmpty else { return nil }
        return zip(chunkTokens, textShares).map { tokens, text in
            if text.visible == 0 { return tokens }
            if text.reasoning == 0 || tokens < 2 { return 0 }
            return Self.apportion(tokens, weights: [text.reasoning, text.visible])[0]
        }
    }

    /// Output tokens as the server reported them, else the sum of the chunks' tokens.
    public var outputTokens: Int { reportedCompletionTokens ?? chunkTokens.reduce(0, +) }

    /// `total` split into one integer share per weight, in proportion to the weights by largest
    /// remainder (ties to the earlier), every share at least 1; below one per weight, 1 each.
    static func apportion(_ total: Int, weights: [Int]) -> [Int] {
        let n = weights.count
        guard total > n else { return Array(repeating: 1, count: n) }
        let w = weights.map { Double(max(1, $0)) }
        let sum = w.reduce(0, +)
        let quotas = w.map { Double(total) * $0 / sum }
        var shares = quotas.map { max(1, Int($0.rounded(.down))) }
        func remainder(_ i: Int) -> Double { quotas[i] - Double(shares[i]) }
        var left = total - shares.reduce(0, +)
        if left > 0 {
            // Fewer than n units are left: each floor lost less than one.
            let order = (0..<n).sorted { remainder($0) > remainder($1) || (remainder($0) == remainder($1) && $0 < $1) }
            for i in order.prefix(left) { shares[i] += 1 }
        }
        // Raising small shares to 1 overshot: take back from the most over-served shares above 1.
        while left < 0 {
            var pick = -1
            for i in 0..<n where shares[i] > 1 && (pick < 0 || remainder(i) <= remainder(pick)) { pick = i }
            shares[pick] -= 1
            left += 1
        }
        return shares
    }
}

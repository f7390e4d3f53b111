/// Turns the timed events of one response stream into chunk times and token counts.
///
/// Token rule: a content chunk counts one token, unless the server streams usage with it; then the
/// chunk counts the growth of the cumulative `usage.completion_tokens` since the tokens already
/// assigned (at least one). When the final usage (in the last content chunk or in a separate
/// `choices: []` chunk) reports more tokens than were assigned, the difference is added to the last
/// content chunk, because those tokens had certainly arrived by then and no earlier time is known.
/// When it reports fewer, each content chunk keeps its one token and `outputTokens` keeps the
/// server's figure.
public struct StreamAccounting: Sendable, Equatable {
    public private(set) var chunkTimes: [Double] = []
    public private(set) var chunkTokens: [Int] = []
    public private(set) var promptTokens: Int?
    /// The largest cumulative `completion_tokens` seen.
    public private(set) var reportedCompletionTokens: Int?
    public private(set) var sawDone = false
    /// The first problem of the stream (a malformed chunk or an error event).
    public private(set) var streamError: String?
    public private(set) var events = 0
    private var assigned = 0

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
        if let c = facts.completionTokens { reportedCompletionTokens = max(reportedCompletionTokens ?? 0, c) }
        guard facts.hasContent else { return }
        let tokens = facts.completionTokens.map { max(1, $0 - assigned) } ?? 1
        chunkTimes.append(time)
        chunkTokens.append(tokens)
        assigned += tokens
    }

    /// Applies the final usage to the last content chunk.
    public mutating func reconcile() {
        guard let reported = reportedCompletionTokens, reported > assigned, !chunkTokens.isEmpty else { return }
        chunkTokens[chunkTokens.count - 1] += reported - assigned
        assigned = reported
    }

    /// Output tokens as the server reported them, else the sum of the chunks' tokens.
    public var outputTokens: Int { reportedCompletionTokens ?? assigned }
}

/// How a request ended. Failures of the server are data, never thrown errors.
public enum RequestStatus: String, Codable, Sendable, CaseIterable {
    case ok
    /// The server answered with a non-2xx HTTP status.
    case httpError = "http_error"
    /// A connect, first-token or total timeout expired.
    case timeout
    /// The connection could not be made or was refused or reset before a response.
    case connectionError = "connection_error"
    /// The response stream broke or was malformed after it started.
    case streamError = "stream_error"
    /// The run ended (interrupt or drain limit) before the request finished.
    case cancelled
    /// The client itself failed (no socket or file descriptor, out of memory, curl set-up): says
    /// nothing about the server and makes the run untrustworthy.
    case clientError = "client_error"
    /// A turn of a session that was never sent because a turn before it did not succeed: a failure of
    /// the session, not of the client.
    case sessionEnded = "session_ended"
}

/// How a request's output tokens were assigned to its content chunks.
public enum TokenRule: String, Codable, Sendable, CaseIterable {
    /// The server streamed the cumulative count with every content chunk: exact.
    case perChunkUsage = "per_chunk_usage"
    /// A count covering several chunks was spread over them by the length of their text.
    case apportionedByText = "apportioned_by_text"
    /// The server reported no count: one token per content chunk.
    case onePerChunk = "one_per_chunk"
}

/// The raw record of one request (METRICS.md section 1). Times are seconds on one monotonic clock,
/// as offsets from the run's start.
public struct RequestRecord: Codable, Sendable, Equatable {
    public var id: Int
    /// Planned arrival time.
    public var scheduledS: Double
    /// When the request was handed to the network; nil if it never was.
    public var sentS: Double?
    /// Receive time of every chunk that carried content.
    public var chunkTimesS: [Double]
    /// Output tokens in each content chunk (same length as `chunkTimesS`, each >= 1).
    public var chunkTokens: [Int]
    /// Prompt tokens asked for by the workload.
    public var requestedPromptTokens: Int
    /// Output tokens asked for (`max_tokens`).
    public var requestedOutputTokens: Int
    /// Prompt tokens as the server reported them in `usage`.
    public var promptTokens: Int?
    /// Output tokens as the server reported them in `usage` (else the sum of `chunkTokens`).
    public var outputTokens: Int?
    /// Prompt tokens the server reported taking from its prefix cache
    /// (`usage.prompt_tokens_details.cached_tokens`); nil when it reported none.
    public var cachedPromptTokens: Int?
    public var status: RequestStatus
    public var httpStatus: Int?
    public var error: String?
    /// How `chunkTokens` were found; nil without content chunks and in files written before it existed.
    public var tokenRule: TokenRule?
    /// Reasoning tokens among each content chunk's `chunkTokens` (same length); nil when the stream
    /// carried no reasoning, and in files written before it was recorded: every token was visible.
    public var chunkReasoningTokens: [Int]?
    /// The session of a multi-turn workload's request, and its turn in it (0 first); nil for a request
    /// that stands alone.
    public var session: Int?
    public var turn: Int?

    public init(
        id: Int, scheduledS: Double, sentS: Double? = nil, chunkTimesS: [Double] = [], chunkTokens: [Int] = [],
        requestedPromptTokens: Int = 0, requestedOutputTokens: Int = 0, promptTokens: Int? = nil,
        outputTokens: Int? = nil, status: RequestStatus = .ok, httpStatus: Int? = nil, error: String? = nil,
        tokenRule: TokenRule? = nil, cachedPromptTokens: Int? = nil, chunkReasoningTokens: [Int]? = nil
    ) {
        self.id = id
        self.scheduledS = scheduledS
        self.sentS = sentS
        self.chunkTimesS = chunkTimesS
        self.chunkTokens = chunkTokens
        self.requestedPromptTokens = requestedPromptTokens
        self.requestedOutputTokens = requestedOutputTokens
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
        self.status = status
        self.httpStatus = httpStatus
        self.error = error
        self.tokenRule = tokenRule
        self.cachedPromptTokens = cachedPromptTokens
        self.chunkReasoningTokens = chunkReasoningTokens
    }

    /// The keys of a record line; the fast line parser reads these too.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case id, status, error
        case scheduledS = "scheduled_s", sentS = "sent_s", chunkTimesS = "chunk_times_s", chunkTokens = "chunk_tokens"
        case requestedPromptTokens = "requested_prompt_tokens", requestedOutputTokens = "requested_output_tokens"
        case promptTokens = "prompt_tokens", outputTokens = "output_tokens", httpStatus = "http_status"
        case tokenRule = "token_rule", cachedPromptTokens = "cached_prompt_tokens"
        case chunkReasoningTokens = "chunk_reasoning_tokens"
        case session, turn
    }

    /// True for a request that stands alone or opens a session: what a workload's rate counts.
    public var opensArrival: Bool { (turn ?? 0) == 0 }

    public var succeeded: Bool { status == .ok }

    /// Send time minus scheduled time: queueing inside the client.
    public var clientLag: Double? { sentS.map { $0 - scheduledS } }

    /// The per-token timeline of this request (METRICS.md section 2): every streamed token.
    public var timeline: TokenTimeline {
        TokenTimeline(arrival: scheduledS, chunkTimes: chunkTimesS, chunkTokens: chunkTokens)
    }

    /// Streamed tokens that were reasoning.
    public var reasoningTokens: Int { chunkReasoningTokens?.reduce(0, +) ?? 0 }

    /// The timeline of the visible tokens alone: reasoning tokens left out, chunks without a visible
    /// token dropped, the arrival kept.
    public var visibleTimeline: TokenTimeline {
        guard let reasoning = chunkReasoningTokens else { return timeline }
        var times: [Double] = [], tokens: [Int] = []
        for (t, (k, r)) in zip(chunkTimesS, zip(chunkTokens, reasoning)) where k > r {
            times.append(t)
            tokens.append(k - r)
        }
        return TokenTimeline(arrival: scheduledS, chunkTimes: times, chunkTokens: tokens)
    }

    /// Receive time of the first visible token; nil when every streamed token was reasoning.
    public var firstOutputS: Double? {
        guard let reasoning = chunkReasoningTokens else { return chunkTimesS.first }
        return zip(chunkTimesS, zip(chunkTokens, reasoning)).first { $0.1.0 > $0.1.1 }?.0
    }

    /// Why the per-chunk arrays do not fit together, or nil when they do.
    public var chunkArraysProblem: String? {
        guard chunkTimesS.count == chunkTokens.count else { return "chunk_times_s and chunk_tokens differ in length" }
        guard let reasoning = chunkReasoningTokens else { return nil }
        guard reasoning.count == chunkTokens.count else { return "chunk_reasoning_tokens and chunk_tokens differ in length" }
        if let c = reasoning.indices.first(where: { reasoning[$0] < 0 || reasoning[$0] > chunkTokens[$0] }) {
            return "chunk_reasoning_tokens[\(c)] is \(reasoning[c]), expected 0 to chunk_tokens[\(c)] (\(chunkTokens[c]))"
        }
        return nil
    }
}

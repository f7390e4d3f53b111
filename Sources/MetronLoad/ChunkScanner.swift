import Foundation

/// What the load generator needs from one streamed OpenAI-style JSON chunk, found by a byte scan
/// instead of a JSON decode: decoding every event costs as much as the whole network path.
///
/// The scan looks for the keys of output text: visible text in `"text"` (completions) and
/// `"content"` (chat), reasoning text in `"reasoning_content"` (DeepSeek, SGLang, llama.cpp, older
/// vLLM) and `"reasoning"` (vLLM). A non-empty string value means the chunk carries output; its length in
/// characters weighs the chunk when a token count has to be spread over chunks. It also looks for
/// `"usage"` (an object with `prompt_tokens`,
/// `completion_tokens` and, in a chunk without content from servers that cache prompt prefixes,
/// `prompt_tokens_details.cached_tokens`) and `"error"` (a non-null value means the server reported a failure
/// mid-stream). A key is only taken where its opening quote is not escaped, so text inside string
/// values cannot be mistaken for a key.
public struct ChunkFacts: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The `[DONE]` sentinel.
        case done
        /// A JSON object (possibly without content, e.g. role-only or usage-only).
        case chunk
        /// The server reported an error inside the stream; the payload is kept as the error text.
        case error(String)
        /// Not a JSON object at all.
        case malformed(String)
    }

    public var kind: Kind
    public var hasContent = false
    /// Characters of the output text, visible and reasoning (an escape sequence counts as one); 0
    /// without content.
    public var contentLength = 0
    /// Characters of the reasoning text among them; 0 when the chunk carries none.
    public var reasoningLength = 0
    public var promptTokens: Int?
    public var completionTokens: Int?
    /// Prompt tokens the server took from its prefix cache.
    public var cachedPromptTokens: Int?

    public init(
        kind: Kind, hasContent: Bool = false, contentLength: Int? = nil, reasoningLength: Int = 0, promptTokens: Int? = nil,
        completionTokens: Int? = nil, cachedPromptTokens: Int? = nil
    ) {
        self.kind = kind
        self.hasContent = hasContent
        self.contentLength = contentLength ?? (hasContent ? 1 : 0)
        self.reasoningLength = reasoningLength
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cachedPromptTokens = cachedPromptTokens
    }
}

public enum ChunkScanner {
    /// The keys of output text, and whether each holds reasoning.
    private static let textKeys: [(key: [UInt8], reasoning: Bool)] = [
        (Array(#""text""#.utf8), false), (Array(#""content""#.utf8), false),
        (Array(#""reasoning_content""#.utf8), true), (Array(#""reasoning""#.utf8), true),
    ]
    private static let usageKey = Array(#""usage""#.utf8)
    private static let errorKey = Array(#""error""#.utf8)
    private static let promptKey = Array(#""prompt_tokens""#.utf8)
    private static let completionKey = Array(#""completion_tokens""#.utf8)
    private static let cachedKey = Array(#""cached_tokens""#.utf8)
    private static let doneSentinel = Array("[DONE]".utf8)

    public static func scan(_ data: [UInt8]) -> ChunkFacts {
        data.withUnsafeBufferPointer { scan($0) }
    }

    public static func scan(_ bytes: UnsafeBufferPointer<UInt8>) -> ChunkFacts {
        var lo = 0, hi = bytes.count
        while lo < hi, isSpace(bytes[lo]) { lo += 1 }
        while hi > lo, isSpace(bytes[hi - 1]) { hi -= 1 }
        let body = UnsafeBufferPointer(rebasing: bytes[lo..<hi])
        if body.elementsEqual(doneSentinel) { return ChunkFacts(kind: .done) }
        guard body.first == UInt8(ascii: "{"), body.last == UInt8(ascii: "}") else {
            return ChunkFacts(kind: .malformed("not a JSON object: " + excerpt(body)))
        }
        if let v = valueStart(of: errorKey, in: body), !startsWith(body, at: v, "null") {
            return ChunkFacts(kind: .error(excerpt(body)))
        }
        var facts = ChunkFacts(kind: .chunk)
        let (visible, reasoning) = textLengths(in: body)
        if visible > 0 || reasoning > 0 {
            facts.hasContent = true
            facts.contentLength = visible + reasoning
            facts.reasoningLength = reasoning
        }
        if let u = valueStart(of: usageKey, in: body), body[u] == UInt8(ascii: "{") {
            let usage = UnsafeBufferPointer(rebasing: body[u...])
            facts.promptTokens = valueStart(of: promptKey, in: usage).flatMap { integer(in: usage, at: $0) }
            facts.completionTokens = valueStart(of: completionKey, in: usage).flatMap { integer(in: usage, at: $0) }
            // Servers report cached tokens in the usage-only chunk that `include_usage` asks for, so
            // content chunks (the per-token path) skip the scan.
            if !facts.hasContent {
                facts.cachedPromptTokens = valueStart(of: cachedKey, in: usage).flatMap { integer(in: usage, at: $0) }
            }
        }
        return facts
    }

    /// Characters of the first non-empty visible text and of the first non-empty reasoning text, 0
    /// for a kind the chunk lacks, in one pass over the chunk. Only the first reasoning key counts:
    /// a server that sends the text under both names sends it once.
    static func textLengths(in bytes: UnsafeBufferPointer<UInt8>) -> (visible: Int, reasoning: Int) {
        var visible = 0, reasoning = 0
        var i = 0
        let n = bytes.count
        while i < n, visible == 0 || reasoning == 0 {
            if bytes[i] == UInt8(ascii: "\""), i == 0 || bytes[i - 1] != UInt8(ascii: "\\") {
                for (key, isReasoning) in textKeys where (isReasoning ? reasoning : visible) == 0 && i + key.count <= n
                    && matches(bytes, at: i, key) {
                    if let v = valueAfterKey(in: bytes, at: i + key.count), v + 1 < n,
                       bytes[v] == UInt8(ascii: "\""), bytes[v + 1] != UInt8(ascii: "\"") {
                        let length = max(1, stringLength(in: bytes, from: v + 1))
                        if isReasoning { reasoning = length } else { visible = length }
                    }
                    break
                }
            }
            i += 1
        }
        return (visible, reasoning)
    }

    /// Index of the first non-space byte after the `:` that follows a key ending at `start`.
    private static func valueAfterKey(in bytes: UnsafeBufferPointer<UInt8>, at start: Int) -> Int? {
        var j = start
        let n = bytes.count
        while j < n, isSpace(bytes[j]) { j += 1 }
        guard j < n, bytes[j] == UInt8(ascii: ":") else { return nil }
        j += 1
        while j < n, isSpace(bytes[j]) { j += 1 }
        return j < n ? j : nil
    }

    /// Index of the first non-space byte after `"key":`, or nil when the key is absent.
    static func valueStart(of key: [UInt8], in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        var i = 0
        let n = bytes.count, k = key.count
        while i + k <= n {
            if bytes[i] == key[0], (i == 0 || bytes[i - 1] != UInt8(ascii: "\\")),
               matches(bytes, at: i, key), let v = valueAfterKey(in: bytes, at: i + k) {
                return v
            }
            i += 1
        }
        return nil
    }

    /// Characters of a JSON string value from `start` (just after its opening quote) to its closing
    /// quote: UTF-8 lead bytes, an escape sequence counting as one.
    static func stringLength(in bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var i = start, count = 0
        while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
            if bytes[i] == UInt8(ascii: "\\") {
                i += i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "u") ? 6 : 2
                count += 1
            } else {
                if bytes[i] & 0xC0 != 0x80 { count += 1 }
                i += 1
            }
        }
        return count
    }

    private static func matches(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int, _ key: [UInt8]) -> Bool {
        for (offset, b) in key.enumerated() where bytes[i + offset] != b { return false }
        return true
    }

    private static func startsWith(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int, _ word: String) -> Bool {
        let w = Array(word.utf8)
        return i + w.count <= bytes.count && matches(bytes, at: i, w)
    }

    private static func integer(in bytes: UnsafeBufferPointer<UInt8>, at start: Int) -> Int? {
        var value = 0, i = start, digits = 0
        while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9"), digits < 18 {
            value = value * 10 + Int(bytes[i] - UInt8(ascii: "0"))
            i += 1
            digits += 1
        }
        return digits > 0 ? value : nil
    }

    private static func isSpace(_ b: UInt8) -> Bool {
        b == UInt8(ascii: " ") || b == UInt8(ascii: "\n") || b == UInt8(ascii: "\r") || b == UInt8(ascii: "\t")
    }

    static func excerpt(_ bytes: UnsafeBufferPointer<UInt8>, limit: Int = 300) -> String {
        let text = String(decoding: bytes.prefix(limit), as: UTF8.self)
        return bytes.count > limit ? text + "..." : text
    }
}

/// The visible text of a chat chunk (`choices[0].delta.content`), decoded in full: only turns whose
/// answer the next turn carries need it.
enum ChatDelta {
    static func visibleText(of data: [UInt8]) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(data)) as? [String: Any],
              let choices = object["choices"] as? [[String: Any]], let delta = choices.first?["delta"] as? [String: Any]
        else { return nil }
        return delta["content"] as? String
    }
}

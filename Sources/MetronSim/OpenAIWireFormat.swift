import Foundation
import MetronSimModel
import NIOCore

// The OpenAI HTTP API as the simulator speaks it: requests parsed, response bodies and event-stream
// chunks written, byte for byte as vLLM writes them.

// MARK: requests

/// Which OpenAI-style generation endpoint a request came to.
enum GenerationEndpoint {
    case completions
    case chat

    var idPrefix: String { self == .completions ? "cmpl-" : "chatcmpl-" }
    var streamObject: String { self == .completions ? "text_completion" : "chat.completion.chunk" }
    var object: String { self == .completions ? "text_completion" : "chat.completion" }
}

/// What the simulator needs of a completion or chat request.
struct GenerationRequest {
    var endpoint: GenerationEndpoint
    var model: String?
    var promptTokens: Int
    var maxTokens: Int
    var stream: Bool
    var includeUsage: Bool
    /// vLLM's `continuous_usage_stats`: the cumulative usage in every chunk (with `include_usage`).
    var continuousUsage = false
    /// The prompt's full KV blocks (`PromptBlocks`), when the server caches prefixes.
    var blockHashes: [UInt64] = []
    /// Prompt tokens served from the prefix cache; nil when the server does not cache prefixes.
    var cachedTokens: Int?
}

/// A request the server answers with HTTP 400.
struct BadRequest: Error {
    var message: String
    var code: String
}

/// Output tokens when a request leaves `max_tokens` out (OpenAI's completions default).
let defaultMaxTokens = 16

enum RequestParser {
    static func object(_ body: [UInt8]) throws -> [String: Any] {
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(body))
        } catch {
            throw BadRequest(message: "the request body is not valid JSON", code: "invalid_json")
        }
        guard let object = parsed as? [String: Any] else {
            throw BadRequest(message: "the request body must be a JSON object", code: "invalid_json")
        }
        return object
    }

    /// With `prefixCaching`, the prompt's block identities too, and usage that reports cached tokens.
    static func generation(
        _ body: [UInt8], endpoint: GenerationEndpoint, prefixCaching: Bool = false
    ) throws -> GenerationRequest {
        let json = try object(body)
        let model = try optional(json, "model", as: String.self)
        let promptTokens: Int
        switch endpoint {
        case .completions: promptTokens = try completionPromptTokens(json, addSpecialTokens: true)
        case .chat: promptTokens = try chatPromptTokens(json)
        }
        var maxTokens = try optionalInt(json, "max_tokens")
        if endpoint == .chat, maxTokens == nil { maxTokens = try optionalInt(json, "max_completion_tokens") }
        let output = maxTokens ?? defaultMaxTokens
        guard output >= 1 else {
            throw BadRequest(message: "max_tokens must be at least 1, got \(output)", code: "invalid_value")
        }
        if let minTokens = try optionalInt(json, "min_tokens"), minTokens < 0 || minTokens > output {
            throw BadRequest(
                message: "min_tokens must be in [0, max_tokens=\(output)], got \(minTokens)", code: "invalid_value")
        }
        _ = try optional(json, "ignore_eos", as: Bool.self)
        let stream = try optional(json, "stream", as: Bool.self) ?? false
        var includeUsage = false, continuousUsage = false
        if let options = json["stream_options"], !(options is NSNull) {
            guard let dict = options as? [String: Any] else {
                throw BadRequest(message: "stream_options must be an object", code: "invalid_type")
            }
            includeUsage = try optional(dict, "include_usage", as: Bool.self) ?? false
            let continuous = try optional(dict, "continuous_usage_stats", as: Bool.self) ?? false
            continuousUsage = includeUsage && continuous
        }
        var request = GenerationRequest(
            endpoint: endpoint, model: model, promptTokens: promptTokens, maxTokens: output, stream: stream,
            includeUsage: includeUsage, continuousUsage: continuousUsage)
        if prefixCaching {
            request.blockHashes = PromptBlocks.hashes(ofTokens: try promptTokenIdentities(json, endpoint: endpoint))
            request.cachedTokens = 0
        }
        return request
    }

    /// One identity per prompt token, as many as the prompt's token count.
    static func promptTokenIdentities(_ json: [String: Any], endpoint: GenerationEndpoint) throws -> [UInt64] {
        if endpoint == .chat { return SimTokenizer.tokenIdentities(chat: try chatMessages(json)) }
        switch json["prompt"] {
        case let text as String:
            return SimTokenizer.tokenIdentities(completionPrompt: text)
        case let ids as [Int]:
            return ids.map(PromptBlocks.tokenIdentity(id:))
        case let texts as [String]:
            return SimTokenizer.tokenIdentities(completionPrompt: texts.first ?? "")
        case let lists as [[Int]]:
            return (lists.first ?? []).map(PromptBlocks.tokenIdentity(id:))
        default:
            return []
        }
    }

    /// A prompt as text, a list of token ids, or a one-element list of either.
    static func completionPromptTokens(_ json: [String: Any], addSpecialTokens: Bool) throws -> Int {
        guard let prompt = json["prompt"] else {
            throw BadRequest(message: "prompt is required", code: "missing_field")
        }
        if let text = prompt as? String {
            return SimTokenizer.completionPromptTokens(text, addSpecialTokens: addSpecialTokens)
        }
        if let ids = prompt as? [Int], !ids.isEmpty { return ids.count }
        if let texts = prompt as? [String], texts.count == 1 {
            return SimTokenizer.completionPromptTokens(texts[0], addSpecialTokens: addSpecialTokens)
        }
        if let lists = prompt as? [[Int]], lists.count == 1, !lists[0].isEmpty { return lists[0].count }
        throw BadRequest(
            message: "prompt must be a string, a list of token ids, or a one-element list of either",
            code: "invalid_type")
    }

    static func chatPromptTokens(_ json: [String: Any]) throws -> Int {
        SimTokenizer.chatPromptTokens(try chatMessages(json).map(\.content))
    }

    /// Each message's role and text content, in order.
    static func chatMessages(_ json: [String: Any]) throws -> [(role: String, content: String)] {
        guard let messages = json["messages"] as? [[String: Any]], !messages.isEmpty else {
            throw BadRequest(message: "messages must be a non-empty list of objects", code: "invalid_type")
        }
        var out: [(role: String, content: String)] = []
        for (i, message) in messages.enumerated() {
            guard let role = message["role"] as? String else {
                throw BadRequest(message: "messages[\(i)].role must be a string", code: "invalid_type")
            }
            switch message["content"] {
            case let text as String:
                out.append((role, text))
            case let parts as [[String: Any]]:
                out.append((role, parts.compactMap { $0["text"] as? String }.joined(separator: " ")))
            case nil, is NSNull:
                out.append((role, ""))
            default:
                throw BadRequest(
                    message: "messages[\(i)].content must be a string or a list of parts", code: "invalid_type")
            }
        }
        return out
    }

    /// The token ids `/tokenize` lists for a body: of its chat messages, its prompt text, or its prompt of ids.
    static func tokenizeIDs(_ json: [String: Any], vocabSize: Int) throws -> [Int] {
        let addSpecial = try optional(json, "add_special_tokens", as: Bool.self) ?? true
        if json["messages"] != nil {
            return (0..<(try chatPromptTokens(json))).map { $0 % vocabSize }
        }
        if let text = json["prompt"] as? String {
            return (addSpecial ? [SimTokenizer.beginOfSequence] : []) + SimTokenizer.pieces(text).map { pieceID($0, vocab: vocabSize) }
        }
        return Array(0..<(try completionPromptTokens(json, addSpecialTokens: addSpecial)))
    }

    /// A stable id for a token piece (FNV-1a), for /tokenize's list.
    private static func pieceID(_ piece: Substring, vocab: Int) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in piece.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return Int(hash % UInt64(max(2, vocab) - 2)) + 2
    }

    static func optional<T>(_ json: [String: Any], _ key: String, as: T.Type) throws -> T? {
        guard let value = json[key], !(value is NSNull) else { return nil }
        guard let typed = value as? T else {
            throw BadRequest(message: "\(key) has the wrong type", code: "invalid_type")
        }
        return typed
    }

    static func optionalInt(_ json: [String: Any], _ key: String) throws -> Int? {
        guard let value = json[key], !(value is NSNull) else { return nil }
        if let number = value as? NSNumber, let int = Int(exactly: number.doubleValue) {
            return int
        }
        throw BadRequest(message: "\(key) must be an integer", code: "invalid_type")
    }
}

// MARK: response bodies

enum OpenAIResponse {
    static func error(message: String, type: String, code: String) -> String {
        "{\"error\":{\"message\":\(jsonString(message)),\"type\":\(jsonString(type)),"
            + "\"param\":null,\"code\":\(jsonString(code))}}"
    }

    static func modelList(id: String, root: String, maxModelLen: Int) -> String {
        "{\"object\":\"list\",\"data\":[{\"id\":\(jsonString(id)),"
            + "\"object\":\"model\",\"created\":\(unixTime()),\"owned_by\":\"metron\","
            + "\"root\":\(jsonString(root)),\"max_model_len\":\(maxModelLen)}]}"
    }

    static func tokenize(ids: [Int], maxModelLen: Int) -> String {
        "{\"count\":\(ids.count),\"max_model_len\":\(maxModelLen),\"tokens\":[\(ids.map(String.init).joined(separator: ","))]}"
    }

    /// With `cachedTokens` (a server that caches prefixes), `prompt_tokens_details` as vLLM writes it.
    static func usage(promptTokens: Int, completionTokens: Int, cachedTokens: Int? = nil) -> String {
        "{\"prompt_tokens\":\(promptTokens),\"completion_tokens\":\(completionTokens),"
            + "\"total_tokens\":\(promptTokens + completionTokens)"
            + (cachedTokens.map { ",\"prompt_tokens_details\":{\"cached_tokens\":\($0)}" } ?? "") + "}"
    }

    /// A whole non-streaming answer of `reasoning` then `text`, which ran to `max_tokens`. Chat keeps
    /// the reasoning in `reasoning_content` (the answer `null` when there is none); completions has one
    /// text for both.
    static func completion(
        id: String, request: GenerationRequest, created: Int, model: String, reasoning: String = "", text: String
    ) -> String {
        let choice: String
        switch request.endpoint {
        case .completions:
            choice = "{\"index\":0,\"text\":\(jsonString(reasoning + text)),\"logprobs\":null,\"finish_reason\":\"length\"}"
        case .chat:
            let thought = reasoning.isEmpty ? "" : "\"reasoning_content\":\(jsonString(reasoning)),"
            choice =
                "{\"index\":0,\"message\":{\"role\":\"assistant\",\(thought)\"content\":\(text.isEmpty ? "null" : jsonString(text))},"
                + "\"logprobs\":null,\"finish_reason\":\"length\"}"
        }
        return "{\"id\":\(jsonString(id)),\"object\":\"\(request.endpoint.object)\",\"created\":\(created),"
            + "\"model\":\(jsonString(model)),\"choices\":[\(choice)],"
            + "\"usage\":\(usage(promptTokens: request.promptTokens, completionTokens: request.maxTokens, cachedTokens: request.cachedTokens))}"
    }
}

// MARK: event-stream chunks

/// The `data:` events of one streamed answer; the text around each token is built once, since a
/// chunk is written for every token.
struct SSEChunkFormat {
    private let request: GenerationRequest
    private let requestID: String
    private let created: Int
    private let model: String
    private let chunkPrefix: [UInt8]
    /// Before a reasoning token's text: chat's `reasoning_content` delta; completions streams it as text.
    private let reasoningChunkPrefix: [UInt8]
    private let chunkSuffix: [UInt8]
    private let lastChunkSuffix: [UInt8]
    /// `,"usage":null}` (when usage was asked for) or `}`, and the blank line.
    private let chunkEnd: [UInt8]

    static let done = "data: [DONE]\n\n"

    init(requestID: String, request: GenerationRequest, created: Int, model: String) {
        self.request = request
        self.requestID = requestID
        self.created = created
        self.model = model
        let common =
            "data: {\"id\":\(jsonString(requestID)),\"object\":\"\(request.endpoint.streamObject)\","
            + "\"created\":\(created),\"model\":\(jsonString(model)),\"choices\":[{\"index\":0,"
        switch request.endpoint {
        case .completions:
            chunkPrefix = Array((common + "\"text\":\"").utf8)
            reasoningChunkPrefix = chunkPrefix
            chunkSuffix = Array("\",\"logprobs\":null,\"finish_reason\":null}]".utf8)
            lastChunkSuffix = Array("\",\"logprobs\":null,\"finish_reason\":\"length\"}]".utf8)
        case .chat:
            chunkPrefix = Array((common + "\"delta\":{\"content\":\"").utf8)
            reasoningChunkPrefix = Array((common + "\"delta\":{\"reasoning_content\":\"").utf8)
            chunkSuffix = Array("\"},\"logprobs\":null,\"finish_reason\":null}]".utf8)
            lastChunkSuffix = Array("\"},\"logprobs\":null,\"finish_reason\":\"length\"}]".utf8)
        }
        chunkEnd = Array(((request.includeUsage ? ",\"usage\":null" : "") + "}\n\n").utf8)
    }

    /// The end of a chunk after its choices: the cumulative usage when asked for in every chunk.
    private func usageEnd(completionTokens: Int) -> String {
        request.continuousUsage
            ? ",\"usage\":\(OpenAIResponse.usage(promptTokens: request.promptTokens, completionTokens: completionTokens))}\n\n"
            : String(decoding: chunkEnd, as: UTF8.self)
    }

    /// Chat's role-only first chunk: it carries no content, so a client must not take TTFT from it.
    var roleChunk: String {
        "data: {\"id\":\(jsonString(requestID)),\"object\":\"chat.completion.chunk\",\"created\":\(created),"
            + "\"model\":\(jsonString(model)),\"choices\":[{\"index\":0,"
            + "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]"
            + usageEnd(completionTokens: 0)
    }

    /// The chunk of one token, a reasoning or an answer token; `completionTokens` counts it.
    func tokenChunk(
        _ text: String, reasoning: Bool = false, last: Bool, completionTokens: Int, allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        let suffix = last ? lastChunkSuffix : chunkSuffix
        let prefix = reasoning ? reasoningChunkPrefix : chunkPrefix
        var buffer = allocator.buffer(capacity: prefix.count + text.utf8.count + suffix.count + chunkEnd.count)
        buffer.writeBytes(prefix)
        buffer.writeString(text)
        buffer.writeBytes(suffix)
        if request.continuousUsage {
            buffer.writeString(usageEnd(completionTokens: completionTokens))
        } else {
            buffer.writeBytes(chunkEnd)
        }
        return buffer
    }

    /// The last chunk when usage was asked for: no choices, the whole usage.
    func usageChunk(cachedTokens: Int?) -> String {
        "data: {\"id\":\(jsonString(requestID)),\"object\":\"\(request.endpoint.streamObject)\","
            + "\"created\":\(created),\"model\":\(jsonString(model)),\"choices\":[],"
            + "\"usage\":\(OpenAIResponse.usage(promptTokens: request.promptTokens, completionTokens: request.maxTokens, cachedTokens: cachedTokens))}\n\n"
    }

    /// An event cut off inside its JSON, for the malformed-event fault.
    var malformedChunk: String {
        "data: {\"id\":\(jsonString(requestID)),\"choices\":[{\"index\":0,\"text\":\"\n\n"
    }
}

// MARK: JSON text

func unixTime() -> Int { Int(Date().timeIntervalSince1970) }

/// `s` as a JSON string literal, quotes included.
func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

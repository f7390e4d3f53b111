import Foundation

/// The OpenAI-compatible API a run streams from.
public enum APIKind: String, Sendable, CaseIterable, Codable {
    case completions
    case chat

    var pathSuffix: String { self == .completions ? "/completions" : "/chat/completions" }

    /// Whether the API streams reasoning apart from the answer (chat's `reasoning_content` or
    /// `reasoning`); the completions API has one text field, so every token it streams is visible.
    public var separatesReasoning: Bool { self == .chat }
}

/// A problem with the load generator's configuration (never a server failure: those are records).
public struct LoadConfigurationError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Where and how to send requests. The API key is held only in memory: it is never part of
/// `description`, `run.json` or any log.
public struct ServerTarget: Sendable, CustomStringConvertible {
    /// A base URL (`http://host:8000`), a `.../v1` URL, or the full endpoint URL.
    public var url: String
    public var api: APIKind
    public var model: String
    /// Extra request headers as `Name: value`.
    public var headers: [String]
    public var apiKey: String?
    /// Skip TLS certificate and host verification (off unless asked for).
    public var insecure: Bool

    public init(
        url: String, api: APIKind = .completions, model: String, headers: [String] = [], apiKey: String? = nil,
        insecure: Bool = false
    ) {
        self.url = url
        self.api = api
        self.model = model
        self.headers = headers
        self.apiKey = apiKey
        self.insecure = insecure
    }

    public var description: String {
        "\(api.rawValue) API at \(Self.withoutCredentials(endpointURL)) (model \(model))"
    }

    /// `url` with any `user:password@` replaced by `***@`, for messages; works on URLs that do not parse.
    public static func withoutCredentials(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return url }
        return String(url[..<schemeEnd.upperBound]) + "***" + String(url[at...])
    }

    /// The streaming endpoint: `/v1/completions` or `/v1/chat/completions` appended to a base URL.
    public var endpointURL: String {
        let base = url.hasSuffix("/") ? String(url.dropLast()) : url
        if base.hasSuffix("/chat/completions") || base.hasSuffix("/completions") { return base }
        if base.hasSuffix("/v1") { return base + api.pathSuffix }
        return base + "/v1" + api.pathSuffix
    }

    /// The server's root (scheme, host and port), for endpoints such as `/tokenize`.
    public var rootURL: String {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host
        else { return url }
        let port = components.port.map { ":\($0)" } ?? ""
        return "\(scheme)://\(host)\(port)"
    }

    public func validate() throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", components.host?.isEmpty == false
        else {
            throw LoadConfigurationError(
                "--url must be an http:// or https:// URL with a host, got '\(Self.withoutCredentials(url))'")
        }
        guard !model.isEmpty else { throw LoadConfigurationError("--model must not be empty") }
        // A header's value may be a secret (a token), so messages name the header, never its text.
        for (number, header) in headers.enumerated() {
            guard let colon = header.firstIndex(of: ":"), colon != header.startIndex,
                  !header[..<colon].contains(where: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" })
            else {
                throw LoadConfigurationError(
                    "--header number \(number + 1) must look like 'Name: value' (its text is not repeated here)")
            }
            if header.contains("\r") || header.contains("\n") {
                throw LoadConfigurationError("--header '\(header[..<colon])' must be one line")
            }
        }
        if let key = apiKey, key.contains(where: { $0 == "\r" || $0 == "\n" }) {
            throw LoadConfigurationError("the API key must be one line")
        }
    }

    /// The extra headers' names, for records: their values may be secrets.
    public var headerNames: [String] { headers.map { String($0.prefix { $0 != ":" }) } }

    /// Every header of a request, `Expect:` empty so large bodies are not held back a second
    /// waiting for `100 Continue`.
    var requestHeaders: [String] {
        var all = ["Content-Type: application/json", "Accept: text/event-stream", "Expect:"]
        if let key = apiKey { all.append("Authorization: Bearer \(key)") }
        return all + headers
    }
}

/// The fields of each request body beyond the prompt.
public struct RequestShape: Sendable, Equatable, Codable {
    /// Ask the server to ignore end-of-sequence tokens (vLLM, SGLang, llama.cpp's `ignore_eos`).
    public var ignoreEOS: Bool
    /// Send `min_tokens` equal to `max_tokens` (vLLM), another way to get the full output length.
    public var minTokens: Bool
    /// A JSON object whose fields are merged into every body last, so they override the defaults.
    public var extraBody: String?
    /// Ask for the cumulative usage in every chunk (vLLM's `continuous_usage_stats`), so each chunk's
    /// token count is exact; servers without it ignore the field. Off for servers that reject it.
    public var continuousUsage: Bool

    public init(ignoreEOS: Bool = false, minTokens: Bool = false, extraBody: String? = nil, continuousUsage: Bool = true) {
        self.ignoreEOS = ignoreEOS
        self.minTokens = minTokens
        self.extraBody = extraBody
        self.continuousUsage = continuousUsage
    }

    enum CodingKeys: String, CodingKey {
        case ignoreEOS = "ignore_eos", minTokens = "min_tokens", extraBody = "extra_body", continuousUsage = "continuous_usage"
    }

    public func validate() throws { _ = try extraFields() }

    func extraFields() throws -> [String: Any] {
        guard let extraBody else { return [:] }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(extraBody.utf8))
        } catch {
            throw LoadConfigurationError("--extra-body is not valid JSON: \(extraBody.prefix(80))")
        }
        guard let fields = object as? [String: Any] else {
            throw LoadConfigurationError("--extra-body must be a JSON object, got: \(extraBody.prefix(80))")
        }
        return fields
    }
}

/// One message of a chat conversation.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// Builds request bodies for the streaming endpoints.
public struct RequestBuilder: Sendable {
    public var target: ServerTarget
    public var shape: RequestShape

    public init(target: ServerTarget, shape: RequestShape) {
        self.target = target
        self.shape = shape
    }

    /// A streaming body asking for `maxTokens` output tokens with usage in the stream.
    public func body(prompt: String, maxTokens: Int) throws -> [UInt8] {
        try body(maxTokens: maxTokens) {
            switch target.api {
            case .completions: $0["prompt"] = prompt
            case .chat: $0["messages"] = [["role": "user", "content": prompt]]
            }
        }
    }

    /// A chat body carrying a whole conversation.
    public func body(messages: [ChatMessage], maxTokens: Int) throws -> [UInt8] {
        guard target.api == .chat else { throw LoadConfigurationError("a conversation needs the chat API, not \(target.api.rawValue)") }
        return try body(maxTokens: maxTokens) { $0["messages"] = messages.map { ["role": $0.role, "content": $0.content] } }
    }

    private func body(maxTokens: Int, prompt setPrompt: (inout [String: Any]) -> Void) throws -> [UInt8] {
        var streamOptions: [String: Any] = ["include_usage": true]
        if shape.continuousUsage { streamOptions["continuous_usage_stats"] = true }
        var fields: [String: Any] = [
            "model": target.model,
            "max_tokens": maxTokens,
            "stream": true,
            "stream_options": streamOptions,
        ]
        setPrompt(&fields)
        if shape.ignoreEOS { fields["ignore_eos"] = true }
        if shape.minTokens { fields["min_tokens"] = maxTokens }
        for (key, value) in try shape.extraFields() { fields[key] = value }
        return Array(try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]))
    }
}

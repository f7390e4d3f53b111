import CCurl
import CLinux
import Foundation

/// How prompt lengths were calibrated against the server's own token count.
public struct PromptCalibration: Sendable, Equatable, Codable {
    public enum Method: String, Sendable, Codable {
        /// The server's `POST /tokenize` endpoint.
        case tokenize
        /// `usage.prompt_tokens` of one-token streaming requests.
        case usage
    }

    public var method: Method
    /// (corpus words, server tokens) pairs measured.
    public var samples: [[Int]]
    public var builder: PromptBuilder

    /// How it was measured, for a log line: "tokenize: 40 words = 52 tokens, ...".
    public var summary: String {
        "\(method.rawValue): " + samples.map { "\($0[0]) words = \($0[1]) tokens" }.joined(separator: ", ")
    }

    /// Corpus word counts of the two calibration prompts.
    public static let sampleWords = [64, 512]

    /// Measures two prompt lengths with the server and fits tokens = overhead + slope x words.
    public static func measure(target: ServerTarget, shape: RequestShape, timeout: Double = 60) throws -> PromptCalibration {
        let client = BlockingHTTP(target: target, timeout: timeout)
        let texts = sampleWords.map { PromptBuilder.text(id: 0, words: $0) }
        var method = Method.tokenize
        var counts = texts.compactMap { client.tokenizeCount(text: $0, api: target.api) }
        if counts.count != texts.count {
            method = .usage
            counts = try texts.map { try client.usagePromptTokens(text: $0, shape: shape) }
        }
        let (w0, w1) = (Double(sampleWords[0]), Double(sampleWords[1]))
        let slope = Double(counts[1] - counts[0]) / (w1 - w0)
        guard slope > 0 else {
            throw LoadConfigurationError(
                "prompt calibration failed: the server counted \(counts[0]) tokens for \(sampleWords[0]) words and "
                    + "\(counts[1]) for \(sampleWords[1]); set --tokens-per-word to skip calibration")
        }
        let overhead = Double(counts[0]) - slope * w0
        return PromptCalibration(
            method: method, samples: zip(sampleWords, counts).map { [$0, $1] },
            builder: PromptBuilder(tokensPerWord: slope, overheadTokens: overhead))
    }
}

/// One request at a time with curl's easy interface, for set-up steps only (never for load).
struct BlockingHTTP {
    var target: ServerTarget
    var timeout: Double

    final class Sink {
        var bytes: [UInt8] = []
    }

    /// POSTs a JSON body; returns the status and the body, or throws on a transport failure.
    func post(url: String, body: [UInt8]) throws -> (status: Int, body: [UInt8]) {
        let response = try send(url: url, body: body)
        return (response.status, response.body)
    }

    struct Response {
        var status: Int
        var body: [UInt8]
        /// The `Server` header, when the server sent one.
        var serverHeader: String?
    }

    /// A GET when `body` is nil, else a POST of it; throws on a transport failure.
    func send(url: String, body: [UInt8]?) throws -> Response {
        MetronCurl.initialize()
        guard let easy = curl_easy_init() else { throw LoadConfigurationError("curl_easy_init failed") }
        defer { curl_easy_cleanup(easy) }
        let headers = try curlHeaderList(target.requestHeaders)
        defer { curl_slist_free_all(headers) }
        let sink = Sink()
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        defer { errorBuffer.deallocate() }
        let bytes = body ?? []
        let method = body == nil ? "GET" : "POST"
        return try withExtendedLifetime(sink) {
            try bytes.withUnsafeBytes { raw in
                try CurlRequestOptions(
                    url: url, body: body == nil ? nil : (UnsafeMutableRawPointer(mutating: raw.baseAddress), raw.count),
                    headers: headers, write: sinkCallback, writeData: Unmanaged.passUnretained(sink).toOpaque(),
                    errorBuffer: errorBuffer, timeoutMS: Int(timeout * 1000), insecure: target.insecure
                ).apply(to: easy)
                let code = curl_easy_perform(easy)
                guard code == CURLE_OK else {
                    let detail = String(cString: errorBuffer)
                    throw LoadConfigurationError(
                        "\(method) \(ServerTarget.withoutCredentials(url)) failed: " + (detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail))
                }
                let status = try responseCode(easy, .raise)
                var server: UnsafeMutablePointer<curl_header>?
                let found = curl_easy_header(easy, "Server", 0, UInt32(CURLH_HEADER), -1, &server) == CURLHE_OK
                return Response(status: status, body: sink.bytes, serverHeader: found ? server.map { String(cString: $0.pointee.value) } : nil)
            }
        }
    }

    /// The server's token count from `POST /tokenize` (vLLM and SGLang shape, then llama.cpp's), or nil.
    func tokenizeCount(text: String, api: APIKind) -> Int? {
        var bodies: [[String: Any]] = []
        switch api {
        case .completions:
            bodies = [["model": target.model, "prompt": text], ["content": text]]
        case .chat:
            bodies = [["model": target.model, "messages": [["role": "user", "content": text]]]]
        }
        for fields in bodies {
            guard let body = try? JSONSerialization.data(withJSONObject: fields),
                  let answer = try? post(url: target.rootURL + "/tokenize", body: Array(body)),
                  (200..<300).contains(answer.status),
                  let object = (try? JSONSerialization.jsonObject(with: Data(answer.body))) as? [String: Any]
            else { continue }
            // llama.cpp answers a body it does not understand with no tokens: try the next shape.
            if let count = object["count"] as? Int, count > 0 { return count }
            if let tokens = object["tokens"] as? [Any], !tokens.isEmpty { return tokens.count }
        }
        return nil
    }

    /// `usage.prompt_tokens` of a one-token streaming request.
    func usagePromptTokens(text: String, shape: RequestShape) throws -> Int {
        let builder = RequestBuilder(target: target, shape: RequestShape(extraBody: shape.extraBody, continuousUsage: shape.continuousUsage))
        let answer = try post(url: target.endpointURL, body: try builder.body(prompt: text, maxTokens: 1))
        guard (200..<300).contains(answer.status) else {
            throw LoadConfigurationError(
                "prompt calibration request to \(ServerTarget.withoutCredentials(target.endpointURL)) got HTTP \(answer.status): "
                    + String(decoding: answer.body.prefix(300), as: UTF8.self))
        }
        var scanner = SSEScanner()
        var accounting = StreamAccounting()
        let consume: (SSEScanner.Event) -> Void = { event in accounting.consume(ChunkScanner.scan(event.data), at: 0) }
        scanner.feed(answer.body, onEvent: consume)
        scanner.finish(onEvent: consume)
        guard let prompt = accounting.promptTokens else {
            throw LoadConfigurationError(
                "prompt calibration: \(ServerTarget.withoutCredentials(target.endpointURL)) reported no usage.prompt_tokens and has no /tokenize; "
                    + "set --tokens-per-word to skip calibration")
        }
        return prompt
    }
}

private let sinkCallback: curl_write_callback = { pointer, size, count, userdata in
    let length = size * count
    guard let userdata, let pointer else { return length }
    let sink = Unmanaged<BlockingHTTP.Sink>.fromOpaque(userdata).takeUnretainedValue()
    sink.bytes.append(contentsOf: UnsafeRawBufferPointer(start: pointer, count: length))
    return length
}

/// libcurl's process-wide set-up, done once.
enum MetronCurl {
    private static let setUp: Void = {
        // signal(2) fails only for a signal number that does not exist.
        signal(SIGPIPE, SIG_IGN)
        // One descriptor per open stream: the default soft limit (often 1,024) caps a run needlessly.
        check(metron_raise_open_files_limit(), "raising the open-files limit",
              .log("runs go on under the current limit"))
        check(curl_global_init(Int(CURL_GLOBAL_DEFAULT)), "curl_global_init",
              .log("each curl_easy_init tries the set-up again and reports its own failure"))
    }()

    static func initialize() { setUp }
}

import Foundation
import MetronSimModel
import NIOCore
import NIOHTTP1

/// One HTTP/1.1 connection: routes each request to its answer; a generation is handed to a
/// `ResponseStream`, which streams its tokens as the engine emits them.
final class SimHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let driver: ServingEngineDriver
    private var head: HTTPRequestHead?
    /// When the current request's head arrived: where the server's TTFT starts, as close to the
    /// client's send as the server can see.
    private var headArrival = NIODeadline.now()
    private var body: [UInt8] = []
    private var bodyTooLarge = false
    /// The generation this connection is serving, if any.
    private var active: ResponseStream?
    /// Largest request body accepted (a 64K-token prompt is well under this).
    private static let maxBodyBytes = 64 << 20

    init(driver: ServingEngineDriver) { self.driver = driver }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(h):
            head = h
            headArrival = .now()
            body.removeAll(keepingCapacity: true)
            bodyTooLarge = false
            // curl holds a large body for a second unless told to go on.
            if h.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                context.writeAndFlush(
                    wrapOutboundOut(.head(HTTPResponseHead(version: h.version, status: .continue))), promise: nil)
            }
        case var .body(buffer):
            if body.count + buffer.readableBytes <= Self.maxBodyBytes {
                body.append(contentsOf: buffer.readBytes(length: buffer.readableBytes) ?? [])
            } else {
                bodyTooLarge = true
            }
        case .end:
            guard let head else { return }
            self.head = nil
            if bodyTooLarge {
                respondError(
                    context: context, status: .payloadTooLarge,
                    message: "the request body exceeds \(Self.maxBodyBytes) bytes", type: "invalid_request_error",
                    code: "request_too_large", keepAlive: false)
                return
            }
            route(context: context, head: head)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        active?.connectionClosed()
        active = nil
        context.fireChannelInactive()
    }

    func streamFinished(_ stream: ResponseStream) {
        if active === stream { active = nil }
    }

    private func route(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let keepAlive = head.isKeepAlive
        switch (head.method, path) {
        case (.POST, "/v1/completions"):
            generate(context: context, head: head, endpoint: .completions)
        case (.POST, "/v1/chat/completions"):
            generate(context: context, head: head, endpoint: .chat)
        case (.POST, "/tokenize"):
            tokenize(context: context, keepAlive: keepAlive)
        case (.POST, "/reset_prefix_cache"):
            driver.resetPrefixCache()
            respond(context: context, status: .ok, contentType: "text/plain", body: "", keepAlive: keepAlive)
        case (.GET, "/v1/models"):
            let m = driver.options.simulator.model
            let json = OpenAIResponse.modelList(id: driver.options.servedModelName, root: m.name, maxModelLen: m.maxModelLen)
            respond(context: context, status: .ok, json: json, keepAlive: keepAlive)
        case (.GET, "/health"):
            respond(context: context, status: .ok, contentType: "text/plain", body: "", keepAlive: keepAlive)
        case (.GET, "/metrics"):
            respond(
                context: context, status: .ok, contentType: "text/plain; version=0.0.4", body: metricsText(),
                keepAlive: keepAlive)
        case (_, "/v1/completions"), (_, "/v1/chat/completions"), (_, "/tokenize"), (_, "/v1/models"),
            (_, "/health"), (_, "/metrics"), (_, "/reset_prefix_cache"):
            respondError(
                context: context, status: .methodNotAllowed, message: "method \(head.method) is not allowed on \(path)",
                type: "invalid_request_error", code: "method_not_allowed", keepAlive: keepAlive)
        default:
            respondError(
                context: context, status: .notFound, message: "no route for \(path)", type: "invalid_request_error",
                code: "not_found", keepAlive: keepAlive)
        }
    }

    private func generate(context: ChannelHandlerContext, head: HTTPRequestHead, endpoint: GenerationEndpoint) {
        let number = driver.nextRequestNumber()
        let requestID = Self.requestID(from: head) ?? endpoint.idPrefix + String(number)
        let keepAlive = head.isKeepAlive
        let request: GenerationRequest
        do {
            request = try RequestParser.generation(
                body, endpoint: endpoint, prefixCaching: driver.options.simulator.prefixCaching)
        } catch let bad as BadRequest {
            respondError(
                context: context, status: .badRequest, message: bad.message, type: "invalid_request_error",
                code: bad.code, keepAlive: keepAlive, requestID: requestID)
            return
        } catch {
            respondError(
                context: context, status: .badRequest, message: "\(error)", type: "invalid_request_error",
                code: "invalid_request", keepAlive: keepAlive, requestID: requestID)
            return
        }
        if let model = request.model, !servesModel(model) {
            respondError(
                context: context, status: .notFound, message: "The model `\(model)` does not exist.",
                type: "invalid_request_error", code: "model_not_found", keepAlive: keepAlive, requestID: requestID)
            return
        }
        if let why = driver.rejection(promptTokens: request.promptTokens, outputTokens: request.maxTokens) {
            let code: String
            switch why {
            case .tooLong: code = "context_length_exceeded"
            default: code = "invalid_request"
            }
            respondError(
                context: context, status: .badRequest, message: why.description, type: "invalid_request_error",
                code: code, keepAlive: keepAlive, requestID: requestID)
            return
        }
        let faults = driver.drawFaults()
        driver.noteArrival(number, at: headArrival)
        let stream = ResponseStream(
            handler: self, context: context, driver: driver, number: number, requestID: requestID,
            request: request, faults: faults, keepAlive: keepAlive)
        active = stream
        if faults.slowHeaders {
            let delay = TimeAmount.nanoseconds(Int64(driver.options.faults.slowHeadersSeconds * 1e9))
            context.eventLoop.assumeIsolated().scheduleTask(in: delay) { stream.begin() }
        } else {
            stream.begin()
        }
    }

    private func servesModel(_ name: String) -> Bool {
        name == driver.options.servedModelName || profileKey(name) == profileKey(driver.options.servedModelName)
    }

    private func tokenize(context: ChannelHandlerContext, keepAlive: Bool) {
        do {
            let json = try RequestParser.object(body)
            if let model = json["model"] as? String, !servesModel(model) {
                respondError(
                    context: context, status: .notFound, message: "The model `\(model)` does not exist.",
                    type: "invalid_request_error", code: "model_not_found", keepAlive: keepAlive)
                return
            }
            let model = driver.options.simulator.model
            let ids = try RequestParser.tokenizeIDs(json, vocabSize: model.vocabSize)
            respond(
                context: context, status: .ok, json: OpenAIResponse.tokenize(ids: ids, maxModelLen: model.maxModelLen),
                keepAlive: keepAlive)
        } catch let bad as BadRequest {
            respondError(
                context: context, status: .badRequest, message: bad.message, type: "invalid_request_error",
                code: bad.code, keepAlive: keepAlive)
        } catch {
            respondError(
                context: context, status: .badRequest, message: "\(error)", type: "invalid_request_error",
                code: "invalid_request", keepAlive: keepAlive)
        }
    }

    /// The client's own `x-request-id`, made safe for a CSV line.
    private static func requestID(from head: HTTPRequestHead) -> String? {
        guard let given = head.headers.first(name: "x-request-id"), !given.isEmpty, given.count <= 200 else {
            return nil
        }
        return String(given.map { $0 == "," || $0.isNewline || $0 == "\"" ? "_" : $0 })
    }

    private func metricsText() -> String {
        let s = driver.engine.statistics
        let label = "{model_name=\(jsonString(driver.options.servedModelName))}"
        var lines: [String] = []
        func metric(_ name: String, _ type: String, _ help: String, _ value: String) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) \(type)")
            lines.append("\(name)\(label) \(value)")
        }
        metric("vllm:num_requests_running", "gauge", "Number of requests in the running batch.", "\(s.running)")
        metric("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be admitted.", "\(s.waiting)")
        metric("vllm:gpu_cache_usage_perc", "gauge", "KV-cache usage, 1 means 100 percent.", "\(s.kvCacheUsage)")
        metric("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage, 1 means 100 percent.", "\(s.kvCacheUsage)")
        metric("vllm:prompt_tokens_total", "counter", "Prompt tokens of admitted requests.", "\(s.promptTokensTotal)")
        metric("vllm:generation_tokens_total", "counter", "Generated tokens.", "\(s.generationTokensTotal)")
        metric("vllm:num_preemptions_total", "counter", "Recompute preemptions.", "\(s.preemptionsTotal)")
        if driver.options.simulator.prefixCaching {
            metric(
                "vllm:prefix_cache_queries_total", "counter", "Prompt tokens looked up in the prefix cache.",
                "\(s.prefixCacheQueriesTotal)")
            metric(
                "vllm:prefix_cache_hits_total", "counter", "Prompt tokens found in the prefix cache.",
                "\(s.prefixCacheHitsTotal)")
        }
        let labels = "model_name=\(jsonString(driver.options.servedModelName))"
        for (name, help, histogram) in [
            ("vllm:time_to_first_token_seconds", "Time to first token: arrival at the engine to the first token.", driver.latencies.ttft),
            ("vllm:inter_token_latency_seconds", "Time between consecutive tokens of a request.", driver.latencies.interToken),
        ] {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) histogram")
            lines += histogram.lines(name, labels: labels)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func respond(
        context: ChannelHandlerContext, status: HTTPResponseStatus, contentType: String = "application/json",
        json: String? = nil, body text: String? = nil, keepAlive: Bool, requestID: String? = nil
    ) {
        let payload = json ?? text ?? ""
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: contentType)
        headers.add(name: "content-length", value: String(payload.utf8.count))
        if let requestID { headers.add(name: "x-request-id", value: requestID) }
        if !keepAlive { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: payload.utf8.count)
        buffer.writeString(payload)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        end(context: context, keepAlive: keepAlive)
    }

    func respondError(
        context: ChannelHandlerContext, status: HTTPResponseStatus, message: String, type: String, code: String,
        keepAlive: Bool, requestID: String? = nil
    ) {
        respond(
            context: context, status: status, json: OpenAIResponse.error(message: message, type: type, code: code),
            keepAlive: keepAlive, requestID: requestID)
    }

    func end(context: ChannelHandlerContext, keepAlive: Bool) {
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

import Foundation
import MetronSimModel
import NIOCore
import NIOHTTP1

/// One generation's response, with its injected faults: SSE events written as the engine emits
/// tokens, or one JSON body at the end.
final class ResponseStream: TokenSink {
    private unowned let handler: SimHTTPHandler
    private let context: ChannelHandlerContext
    private let driver: ServingEngineDriver
    let number: Int
    let requestID: String
    private var request: GenerationRequest
    private let faults: FaultPlan
    private let keepAlive: Bool
    private let created = unixTime()
    private let midpoint: Int
    private var written = 0
    private var closed = false
    private var stalled = false
    private var pending: [(index: Int, finished: Bool)] = []
    private let chunks: SSEChunkFormat
    /// The first this many output tokens are reasoning; drawn when the request is submitted.
    private var reasoningTokens = 0

    init(
        handler: SimHTTPHandler, context: ChannelHandlerContext, driver: ServingEngineDriver, number: Int, requestID: String,
        request: GenerationRequest, faults: FaultPlan, keepAlive: Bool
    ) {
        self.handler = handler
        self.context = context
        self.driver = driver
        self.number = number
        self.requestID = requestID
        self.request = request
        self.faults = faults
        self.keepAlive = keepAlive
        midpoint = FaultPlan.midpoint(outputTokens: request.maxTokens)
        chunks = SSEChunkFormat(
            requestID: requestID, request: request, created: created, model: driver.options.servedModelName)
    }

    /// Serves the request: an injected error, or the stream's head and a place in the engine.
    func begin() {
        guard !closed else { return }
        if let status = faults.errorStatus {
            let (type, code, message): (String, String, String)
            switch status {
            case 429: (type, code, message) = ("rate_limit_error", "rate_limit_exceeded", "Too many requests (injected fault).")
            case 503: (type, code, message) = ("server_error", "service_unavailable", "Service unavailable (injected fault).")
            default: (type, code, message) = ("server_error", "internal_error", "Internal server error (injected fault).")
            }
            finishResponse {
                handler.respondError(
                    context: context, status: HTTPResponseStatus(statusCode: status), message: message, type: type,
                    code: code, keepAlive: keepAlive, requestID: requestID)
            }
            return
        }
        if request.stream {
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "text/event-stream")
            headers.add(name: "cache-control", value: "no-cache")
            headers.add(name: "x-request-id", value: requestID)
            if !keepAlive { headers.add(name: "connection", value: "close") }
            context.write(
                handler.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
                promise: nil)
            if request.endpoint == .chat {
                send(chunks.roleChunk)
            } else {
                context.flush()
            }
        }
        reasoningTokens = driver.drawReasoningTokens(outputTokens: request.maxTokens)
        if let why = driver.submit(
            number: number, promptTokens: request.promptTokens, outputTokens: request.maxTokens,
            blockHashes: request.blockHashes, sink: self)
        {
            // Checked before; only a stopping server gets here.
            closed = true
            handler.streamFinished(self)
            if request.stream { handler.end(context: context, keepAlive: false) } else {
                handler.respondError(
                    context: context, status: .serviceUnavailable, message: why.description, type: "server_error",
                    code: "service_unavailable", keepAlive: false, requestID: requestID)
            }
        }
    }

    func connectionClosed() {
        guard !closed else { return }
        closed = true
        driver.cancel(number: number)
    }

    func emit(index: Int, finished: Bool, cachedPromptTokens: Int) {
        guard !closed else { return }
        if index == 0, request.cachedTokens != nil { request.cachedTokens = cachedPromptTokens }
        if stalled {
            pending.append((index, finished))
            return
        }
        deliver(index: index, finished: finished)
    }

    private func deliver(index: Int, finished: Bool) {
        written += 1
        if request.stream {
            // Stamped just before the write: the syscall follows at once on this thread, and a client
            // on the same machine can never read the token before its logged time.
            driver.recordEmission(requestID)
            let buffer = chunks.tokenChunk(
                SimTokenizer.outputText(index), reasoning: index < reasoningTokens, last: finished,
                completionTokens: written, allocator: context.channel.allocator)
            context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        if written == midpoint {
            if faults.malformed, request.stream {
                send(chunks.malformedChunk)
            }
            if faults.disconnect {
                closed = true
                driver.cancel(number: number)
                handler.streamFinished(self)
                context.close(promise: nil)
                return
            }
            if faults.stall {
                stalled = true
                if finished { pending.append((index: -1, finished: true)) }
                let delay = TimeAmount.nanoseconds(Int64(driver.options.faults.stallSeconds * 1e9))
                context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in resume() }
                return
            }
        }
        if finished { complete() }
    }

    private func resume() {
        stalled = false
        let held = pending
        pending = []
        for token in held where !closed {
            if token.index < 0 { complete() } else { deliver(index: token.index, finished: token.finished) }
        }
    }

    private func complete() {
        guard !closed else { return }
        let output = request.maxTokens
        if request.stream {
            if request.includeUsage { send(chunks.usageChunk(cachedTokens: request.cachedTokens)) }
            if !faults.omitDone { send(SSEChunkFormat.done) }
            finishResponse { handler.end(context: context, keepAlive: keepAlive) }
            return
        }
        var json = OpenAIResponse.completion(
            id: requestID, request: request, created: created, model: driver.options.servedModelName,
            reasoning: (0..<reasoningTokens).map(SimTokenizer.outputText).joined(),
            text: (reasoningTokens..<output).map(SimTokenizer.outputText).joined())
        if faults.malformed { json = String(json.prefix(json.count / 2)) }
        for _ in 0..<output { driver.recordEmission(requestID) }
        finishResponse {
            handler.respond(context: context, status: .ok, json: json, keepAlive: keepAlive, requestID: requestID)
        }
    }

    private func finishResponse(_ write: () -> Void) {
        closed = true
        handler.streamFinished(self)
        write()
    }

    private func send(_ text: String) {
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
    }
}

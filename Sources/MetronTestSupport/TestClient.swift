import Foundation
import MetronModel
import MetronSim
import NIOCore
import NIOHTTP1
import NIOPosix

/// What a test sees of one HTTP exchange.
public struct HTTPResult: Sendable {
    public var status = 0
    public var headers: [String: String] = [:]
    public var body = ""
    /// Server-sent events in order, each with the monotonic time its last byte arrived.
    public var events: [(time: Double, data: String)] = []
    /// Monotonic times: request written, response head received.
    public var sentAt = 0.0
    public var headAt = 0.0
    /// False when the connection closed before the response ended.
    public var complete = false

    public var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
    }

    /// The events' JSON objects (nil for `[DONE]` and unparsable ones).
    public var eventObjects: [[String: Any]?] {
        events.map { (try? JSONSerialization.jsonObject(with: Data($0.data.utf8))) as? [String: Any] }
    }

    /// Events carrying generated text, in order.
    public var contentEvents: [(time: Double, data: String)] {
        zip(events, eventObjects).compactMap { event, object in
            guard let choices = object?["choices"] as? [[String: Any]], let choice = choices.first else { return nil }
            if let text = choice["text"] as? String, !text.isEmpty { return event }
            if let delta = choice["delta"] as? [String: Any],
               ["content", "reasoning_content"].contains(where: { (delta[$0] as? String)?.isEmpty == false }) {
                return event
            }
            return nil
        }
    }
}

/// A one-request-per-connection HTTP/1.1 client on NIO that stamps every body part as it arrives.
public enum TestClient {
    public static let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    public static func request(
        _ server: SimulatorServer, _ method: HTTPMethod, _ path: String, body: String? = nil,
        headers extra: [(String, String)] = []
    ) async throws -> HTTPResult {
        let promise = group.next().makePromise(of: HTTPResult.self)
        var headers = HTTPHeaders()
        headers.add(name: "host", value: "127.0.0.1")
        headers.add(name: "connection", value: "close")
        if let body {
            headers.add(name: "content-type", value: "application/json")
            headers.add(name: "content-length", value: String(body.utf8.count))
        }
        for (name, value) in extra { headers.add(name: name, value: value) }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(
                        Collector(head: head, body: body, promise: promise))
                }
            }
            .connect(host: "127.0.0.1", port: server.port).get()
        defer { channel.close(promise: nil) }
        return try await promise.futureResult.get()
    }

    /// A JSON POST.
    public static func post(_ server: SimulatorServer, _ path: String, _ json: [String: Any]) async throws -> HTTPResult {
        let data = try JSONSerialization.data(withJSONObject: json)
        return try await request(server, .POST, path, body: String(decoding: data, as: UTF8.self))
    }
}

private final class Collector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let head: HTTPRequestHead
    private let body: String?
    private let promise: EventLoopPromise<HTTPResult>
    private var result = HTTPResult()
    private var pendingEventBytes = ""
    private var done = false

    init(head: HTTPRequestHead, body: String?, promise: EventLoopPromise<HTTPResult>) {
        self.head = head
        self.body = body
        self.promise = promise
    }

    func channelActive(context: ChannelHandlerContext) {
        // Stamped before the write, so the server can never have the request earlier than this.
        result.sentAt = monotonicSeconds()
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let body {
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let now = monotonicSeconds()
        switch unwrapInboundIn(data) {
        case let .head(h):
            result.headAt = now
            result.status = Int(h.status.code)
            for (name, value) in h.headers { result.headers[name.lowercased()] = value }
        case var .body(buffer):
            let text = buffer.readString(length: buffer.readableBytes) ?? ""
            result.body += text
            pendingEventBytes += text
            while let range = pendingEventBytes.range(of: "\n\n") {
                let event = String(pendingEventBytes[..<range.lowerBound])
                pendingEventBytes = String(pendingEventBytes[range.upperBound...])
                let data = event.hasPrefix("data: ") ? String(event.dropFirst(6)) : event
                result.events.append((now, data))
            }
        case .end:
            result.complete = true
            finish()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish()
        context.close(promise: nil)
    }

    private func finish() {
        guard !done else { return }
        done = true
        promise.succeed(result)
    }
}

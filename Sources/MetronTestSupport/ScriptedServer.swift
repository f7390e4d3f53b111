import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// A TCP server on 127.0.0.1 (port 0) that answers each HTTP request with an exact, scripted byte
/// sequence, so tests can produce every stream shape and failure a real server might.
public final class ScriptedServer: Sendable {
    public struct Request: Sendable {
        public var method: String
        public var path: String
        /// Header names lower-cased.
        public var headers: [String: String]
        public var body: [UInt8]
        public var receivedAt: Double

        public var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
        }
    }

    public enum Step: Sendable {
        case bytes([UInt8])
        case sleep(Double)
        /// Close the connection now (the script ends here).
        case close
    }

    public typealias Responder = @Sendable (Request) -> [Step]

    private let group: MultiThreadedEventLoopGroup
    private let channel: Channel
    private let log: RequestLog
    public let port: Int

    public init(responder: @escaping Responder) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let log = RequestLog()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        RequestHandler(responder: responder, log: { request in log.append(request) }))
                }
            }
        channel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress?.port ?? 0
        self.group = group
        self.log = log
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    public var requests: [Request] { log.all }

    public func shutdown() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }

    // MARK: scripts

    public static func head(status: Int = 200, contentType: String = "text/event-stream", chunked: Bool = true,
                     extra: [String] = []) -> Step {
        var lines = ["HTTP/1.1 \(status) \(reason(status))", "Content-Type: \(contentType)", "Connection: close"]
        if chunked { lines.append("Transfer-Encoding: chunked") }
        lines += extra
        return .bytes(Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8))
    }

    /// One HTTP chunk carrying `text`.
    public static func chunk(_ text: String) -> Step {
        let bytes = Array(text.utf8)
        return .bytes(Array((String(bytes.count, radix: 16) + "\r\n").utf8) + bytes + Array("\r\n".utf8))
    }

    /// The end of a chunked body.
    public static let lastChunk = Step.bytes(Array("0\r\n\r\n".utf8))

    /// A whole non-streaming JSON answer.
    public static func json(status: Int, _ body: String) -> [Step] {
        let bytes = Array(body.utf8)
        return [
            .bytes(Array(("HTTP/1.1 \(status) \(reason(status))\r\nContent-Type: application/json\r\n"
                + "Connection: close\r\nContent-Length: \(bytes.count)\r\n\r\n").utf8) + bytes),
        ]
    }

    /// A streaming answer: head, one chunk per event, then the terminating chunk.
    public static func stream(_ events: [String], gap: Double = 0) -> [Step] {
        var steps = [head()]
        for event in events {
            steps.append(chunk(event))
            if gap > 0 { steps.append(.sleep(gap)) }
        }
        steps.append(lastChunk)
        return steps
    }

    public static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 404: return "Not Found"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }
}

/// SSE event texts in the shapes real servers send.
public enum Events {
    public static func text(_ t: String = " tok") -> String { #"data: {"choices":[{"index":0,"text":"\#(t)","finish_reason":null}]}"# + "\n\n" }
    public static func content(_ t: String = "tok") -> String { #"data: {"choices":[{"index":0,"delta":{"content":"\#(t)"}}]}"# + "\n\n" }
    /// A chat reasoning delta under `key`: `reasoning_content` or `reasoning`.
    public static func reasoning(_ t: String = "hmm", key: String = "reasoning_content") -> String {
        #"data: {"choices":[{"index":0,"delta":{"\#(key)":"\#(t)","content":null}}]}"# + "\n\n"
    }
    public static let role = #"data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"# + "\n\n"
    public static func usage(prompt: Int, completion: Int) -> String {
        #"data: {"choices":[],"usage":{"prompt_tokens":\#(prompt),"completion_tokens":\#(completion),"total_tokens":\#(prompt + completion)}}"# + "\n\n"
    }
    public static let done = "data: [DONE]\n\n"
}

/// The request id a prompt was built for ("Request N: ...").
public func requestID(_ request: ScriptedServer.Request) -> Int? {
    let json = request.json
    let prompt = json["prompt"] as? String
        ?? ((json["messages"] as? [[String: Any]])?.first?["content"] as? String) ?? ""
    guard prompt.hasPrefix("Request ") else { return nil }
    return Int(prompt.dropFirst(8).prefix { $0.isNumber })
}

/// Every request the server has read, in order.
final class RequestLog: Sendable {
    private let entries = Mutex<[ScriptedServer.Request]>([])
    func append(_ request: ScriptedServer.Request) { entries.withLock { $0.append(request) } }
    var all: [ScriptedServer.Request] { entries.withLock { $0 } }
}

/// Reads one request (headers and a Content-Length body), then plays the script for it.
private final class RequestHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let responder: ScriptedServer.Responder
    private let log: @Sendable (ScriptedServer.Request) -> Void
    private var buffer: [UInt8] = []
    private var answered = false

    init(responder: @escaping ScriptedServer.Responder, log: @escaping @Sendable (ScriptedServer.Request) -> Void) {
        self.responder = responder
        self.log = log
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer += incoming.readBytes(length: incoming.readableBytes) ?? []
        guard !answered, let request = parse() else { return }
        answered = true
        log(request)
        play(responder(request)[...], on: context.channel)
    }

    private func parse() -> ScriptedServer.Request? {
        let separator = Array("\r\n\r\n".utf8)
        guard let end = buffer.indices.dropLast(3).first(where: { Array(buffer[$0..<$0 + 4]) == separator })
        else { return nil }
        let head = String(decoding: buffer[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let requestLine = head[0].split(separator: " ")
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        let bodyStart = end + 4
        guard buffer.count >= bodyStart + length else { return nil }
        return ScriptedServer.Request(
            method: requestLine.first.map(String.init) ?? "", path: requestLine.count > 1 ? String(requestLine[1]) : "",
            headers: headers, body: Array(buffer[bodyStart..<bodyStart + length]),
            receivedAt: ProcessInfo.processInfo.systemUptime)
    }
}

/// Plays steps in order on the channel's event loop; the connection closes at the end.
private func play(_ steps: ArraySlice<ScriptedServer.Step>, on channel: Channel) {
    var rest = steps
    while let step = rest.popFirst() {
        switch step {
        case let .bytes(bytes):
            channel.writeAndFlush(channel.allocator.buffer(bytes: bytes), promise: nil)
        case let .sleep(seconds):
            let remaining = rest
            channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(seconds * 1e9))) { play(remaining, on: channel) }
            return
        case .close:
            channel.close(promise: nil)
            return
        }
    }
    channel.close(promise: nil)
}

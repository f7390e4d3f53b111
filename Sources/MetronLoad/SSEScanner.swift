/// An incremental server-sent-events parser (the WHATWG event-stream format) over raw bytes.
///
/// Lines end in LF, CRLF or a lone CR, and may be split anywhere across reads. `data:` lines of one
/// event are joined with LF; `event:` names the event; lines starting with `:` are comments
/// (keep-alives); a blank line dispatches the event. Other fields (`id:`, `retry:`) are ignored.
public struct SSEScanner: Sendable {
    public struct Event: Sendable, Equatable {
        public var name: String?
        public var data: [UInt8]

        public init(name: String? = nil, data: [UInt8]) {
            self.name = name
            self.data = data
        }
    }

    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var name: String?
    /// The previous byte was a CR, so an LF right after it ends no second line.
    private var afterCR = false
    /// Lines over this length are cut, so a server that never ends a line cannot exhaust memory.
    public let maxLineBytes: Int
    public private(set) var overlongLine = false

    public init(maxLineBytes: Int = 16 << 20) {
        self.maxLineBytes = maxLineBytes
        line.reserveCapacity(512)
    }

    /// Feeds bytes; `onEvent` is called for every event these bytes complete, in order.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, onEvent: (Event) -> Void) {
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\n"):
                if afterCR { afterCR = false; continue }
                endLine(onEvent)
            case UInt8(ascii: "\r"):
                afterCR = true
                endLine(onEvent)
            default:
                afterCR = false
                if line.count < maxLineBytes { line.append(byte) } else { overlongLine = true }
            }
        }
    }

    public mutating func feed(_ bytes: [UInt8], onEvent: (Event) -> Void) {
        bytes.withUnsafeBytes { feed($0, onEvent: onEvent) }
    }

    /// At the end of the stream: an event whose blank line never came is still delivered, since
    /// some servers close right after their last `data:` line.
    public mutating func finish(onEvent: (Event) -> Void) {
        if !line.isEmpty { endLine(onEvent) }
        if hasData { dispatch(onEvent) }
    }

    private mutating func endLine(_ onEvent: (Event) -> Void) {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            if hasData { dispatch(onEvent) } else { name = nil }
            return
        }
        if line[0] == UInt8(ascii: ":") { return }
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.count
        var valueStart = Swift.min(colon + 1, line.count)
        if valueStart < line.count, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        let field = line[0..<colon]
        if field.elementsEqual("data".utf8) {
            if hasData { data.append(UInt8(ascii: "\n")) }
            data.append(contentsOf: line[valueStart...])
            hasData = true
        } else if field.elementsEqual("event".utf8) {
            name = String(decoding: line[valueStart...], as: UTF8.self)
        }
    }

    private mutating func dispatch(_ onEvent: (Event) -> Void) {
        onEvent(Event(name: name, data: data))
        data.removeAll(keepingCapacity: true)
        hasData = false
        name = nil
    }
}

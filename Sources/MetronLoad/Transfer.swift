import CCurl
import Foundation
import CLinux
import MetronModel

/// One request in flight: its curl handle, body, stream state and record. Lives on the engine thread.
final class Transfer {
    let index: Int
    var record: RequestRecord
    let easy: UnsafeMutableRawPointer
    let body: UnsafeMutableRawBufferPointer
    let bodyCount: Int
    let errorBuffer: UnsafeMutablePointer<CChar>
    let runStart: Double
    var scanner = SSEScanner()
    var accounting = StreamAccounting()
    /// 0 until the status line has been read.
    var httpStatus = 0
    /// The body of a non-2xx answer, kept (up to a limit) as the error text.
    var errorBody: [UInt8] = []
    var lastReceive: Double?
    /// Set when the engine ends the transfer itself (first-token timeout, drain, interrupt).
    var abort: (status: RequestStatus, message: String)?
    /// errno of the first failed socket(2) for this transfer (0 if none failed).
    var socketErrno: Int32 = 0

    /// For a turn of a session: the conversation it sent, and the visible text of its answer, which
    /// the next turn carries.
    var conversation: [ChatMessage]?
    var answer = ""

    /// The start of a 2xx body, kept until the first event, to show what came when no event did.
    var preview: [UInt8] = []

    static let errorBodyLimit = 4096
    static let previewLimit = 300

    init(index: Int, record: RequestRecord, body: [UInt8], runStart: Double) throws {
        guard let easy = curl_easy_init() else { throw LoadConfigurationError("curl_easy_init failed") }
        self.index = index
        self.record = record
        self.easy = easy
        self.runStart = runStart
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, body.count), alignment: 1)
        body.withUnsafeBytes { copy.copyMemory(from: $0) }
        self.body = copy
        bodyCount = body.count
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        curl_easy_cleanup(easy)
        body.deallocate()
        errorBuffer.deallocate()
    }

    /// Sets the handle's options for a streaming POST of the body to `url`.
    func prepare(
        url: String, headers: UnsafeMutablePointer<curl_slist>?, timeouts: RequestTimeouts, insecure: Bool
    ) throws(CCallError) {
        let me = Unmanaged.passUnretained(self).toOpaque()
        try CurlRequestOptions(
            url: url, body: (body.baseAddress, bodyCount), headers: headers, write: transferWriteCallback, writeData: me,
            errorBuffer: errorBuffer, timeoutMS: Int(timeouts.total * 1000), insecure: insecure
        ).apply(to: easy)
        try check(metron_easy_set_ptr(easy, CURLOPT_PRIVATE, me), "CURLOPT_PRIVATE", .raise)
        try check(metron_easy_set_opensocket_function(easy, openSocketCallback), "CURLOPT_OPENSOCKETFUNCTION", .raise)
        try check(metron_easy_set_ptr(easy, CURLOPT_OPENSOCKETDATA, me), "CURLOPT_OPENSOCKETDATA", .raise)
        try check(metron_easy_set_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(timeouts.connect * 1000)),
                  "CURLOPT_CONNECTTIMEOUT_MS", .raise)
    }

    /// Bytes of the response body, stamped by the caller before anything else happens.
    func receive(_ bytes: UnsafeRawBufferPointer, at now: Double) {
        if httpStatus == 0 { httpStatus = responseCode(easy, .log("the status is asked again at the next bytes")) }
        guard (200..<300).contains(httpStatus) else {
            let room = Self.errorBodyLimit - errorBody.count
            if room > 0 { errorBody.append(contentsOf: bytes.prefix(room)) }
            return
        }
        let t = now - runStart
        lastReceive = t
        if accounting.events == 0, preview.count < Self.previewLimit {
            preview.append(contentsOf: bytes.prefix(Self.previewLimit - preview.count))
        }
        scanner.feed(bytes) { consume($0.data, at: t) }
    }

    private func consume(_ data: [UInt8], at t: Double) {
        data.withUnsafeBufferPointer { accounting.consume(ChunkScanner.scan($0), at: t) }
        if conversation != nil, let text = ChatDelta.visibleText(of: data) { answer += text }
    }

    var hasFirstToken: Bool { !accounting.chunkTimes.isEmpty }

    /// Completes the record from curl's result code.
    func finish(result: CURLcode, timeouts: RequestTimeouts) -> RequestRecord {
        if let t = lastReceive {
            scanner.finish { consume($0.data, at: t) }
        }
        if httpStatus == 0 { httpStatus = responseCode(easy, .log("the record is kept without an HTTP status")) }
        var r = record
        r.chunkTimesS = accounting.chunkTimes
        r.chunkTokens = accounting.chunkTokens
        r.tokenRule = accounting.tokenRule
        r.chunkReasoningTokens = accounting.chunkReasoningTokens
        r.promptTokens = accounting.promptTokens
        r.cachedPromptTokens = accounting.cachedPromptTokens
        r.outputTokens = accounting.chunkTimes.isEmpty && accounting.reportedCompletionTokens == nil
            ? nil : accounting.outputTokens
        r.httpStatus = httpStatus > 0 ? httpStatus : nil
        let (status, message) = classify(result: result, timeouts: timeouts)
        r.status = status
        r.error = message
        return r
    }

    private func classify(result: CURLcode, timeouts: RequestTimeouts) -> (RequestStatus, String?) {
        if let abort { return (abort.status, abort.message) }
        let curlText = curlError(result)
        if let fault = clientFault(result: result, curlText: curlText) { return (.clientError, fault) }
        if httpStatus > 0, !(200..<300).contains(httpStatus) {
            let text = String(decoding: errorBody, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return (.httpError, "HTTP \(httpStatus)" + (text.isEmpty ? "" : ": \(text)"))
        }
        switch result {
        case CURLE_OK:
            if let problem = accounting.streamError { return (.streamError, problem) }
            if accounting.chunkTimes.isEmpty {
                if httpStatus == 0 { return (.connectionError, "no HTTP response") }
                if accounting.events == 0, !preview.isEmpty {
                    return (.streamError, "the response was not an event stream: "
                        + String(decoding: preview, as: UTF8.self))
                }
                return (.streamError, "the stream ended without a content chunk (\(accounting.events) events)")
            }
            return (.ok, nil)
        case CURLE_OPERATION_TIMEDOUT:
            var connectTime = 0.0
            check(metron_easy_get_double(easy, CURLINFO_CONNECT_TIME, &connectTime), "CURLINFO_CONNECT_TIME",
                  .log("the timeout is reported as a connect timeout"))
            if connectTime == 0 {
                return (.timeout, "connect timeout (\(timeouts.connect) s): \(curlText)")
            }
            return (.timeout, "total timeout (\(timeouts.total) s): \(curlText)")
        default:
            if httpStatus > 0 {
                let problem = accounting.streamError.map { "; \($0)" } ?? ""
                return (.streamError, "stream broke after \(accounting.chunkTimes.count) content chunks: \(curlText)\(problem)")
            }
            return (.connectionError, curlText)
        }
    }

    /// errnos of socket(2) that mean this machine ran out of something; others (EAFNOSUPPORT for an
    /// address family the machine lacks, tried alongside one it has) are not the client's fault.
    static let resourceErrnos: Set<Int32> = [EMFILE, ENFILE, ENOBUFS, ENOMEM]

    /// A failure on this machine (descriptors, ports, memory, curl's own set-up), as text that
    /// follows "N requests", or nil when the failure is not the client's.
    private func clientFault(result: CURLcode, curlText: String) -> String? {
        guard result != CURLE_OK else { return nil }
        if result == CURLE_OUT_OF_MEMORY || result == CURLE_FAILED_INIT { return "failed inside curl (\(curlText))" }
        guard httpStatus == 0 else { return nil }
        if Self.resourceErrnos.contains(socketErrno) {
            return "could not open a socket (\(describeErrno(socketErrno)))"
        }
        var osErrno = 0
        if result == CURLE_COULDNT_CONNECT,
           check(metron_easy_get_long(easy, CURLINFO_OS_ERRNO, &osErrno), "CURLINFO_OS_ERRNO",
                 .log("the failure is reported as curl describes it")),
           osErrno == Int(EADDRNOTAVAIL) {
            return "could not get a local port (\(describeErrno(EADDRNOTAVAIL)))"
        }
        return nil
    }

    private func curlError(_ code: CURLcode) -> String {
        let detail = String(cString: errorBuffer)
        let name = String(cString: curl_easy_strerror(code))
        return detail.isEmpty ? "curl error \(code.rawValue): \(name)" : "curl error \(code.rawValue): \(detail)"
    }
}

/// Opens the socket as curl would, keeping socket(2)'s errno: running out of descriptors must not
/// pass for a server that refused the connection.
private let openSocketCallback: curl_opensocket_callback = { clientp, _, address in
    guard let address else { return -1 }
    var error: Int32 = 0
    let fd = metron_socket(address.pointee.family, address.pointee.socktype, address.pointee.protocol, &error)
    if fd < 0, let clientp {
        let transfer = Unmanaged<Transfer>.fromOpaque(clientp).takeUnretainedValue()
        // A shortage wins over an address family the machine lacks, tried alongside.
        if !Transfer.resourceErrnos.contains(transfer.socketErrno) { transfer.socketErrno = error }
    }
    return fd
}

/// The timestamp is taken first, before any parsing of the bytes.
private let transferWriteCallback: curl_write_callback = { pointer, size, count, userdata in
    let now = monotonicSeconds()
    let length = size * count
    guard let userdata else { return length }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    transfer.receive(UnsafeRawBufferPointer(start: pointer, count: length), at: now)
    return length
}

/// Per-request time limits, seconds.
public struct RequestTimeouts: Sendable, Equatable, Codable {
    public var connect: Double
    /// From send to the first content chunk.
    public var firstToken: Double
    /// From send to the end of the stream.
    public var total: Double

    public init(connect: Double = 10, firstToken: Double = 120, total: Double = 600) {
        self.connect = connect
        self.firstToken = firstToken
        self.total = total
    }

    enum CodingKeys: String, CodingKey {
        case connect = "connect_s", firstToken = "first_token_s", total = "total_s"
    }

    /// As `run.json` records them.
    public var record: [String: Double] { ["connect_s": connect, "first_token_s": firstToken, "total_s": total] }

    public func validate() throws {
        for (name, value) in [("connect", connect), ("first-token", firstToken), ("total", total)] {
            guard value > 0, value.isFinite else {
                throw LoadConfigurationError("the \(name) timeout must be a positive number of seconds, got \(value)")
            }
        }
    }
}

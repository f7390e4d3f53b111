import CCurl
import CLinux
import Foundation
import MetronCore

/// Everything the engine thread needs, prepared before the run.
struct EngineJob: Sendable {
    /// Sorted by arrival.
    var plan: [PlannedRequest]
    /// Builds a request's body; called shortly before it is due, so bodies never pile up in memory.
    var makeBody: @Sendable (PlannedRequest) throws -> [UInt8]
    var endpoint: String
    var headers: [String]
    var insecure: Bool
    var timeouts: RequestTimeouts
    var maxInFlight: Int?
    var drainTimeout: Double
    var realtime: Bool
    var calibrationWakeups: Int
}

/// Progress of a run, posted a few times a second.
public struct LoadProgress: Sendable, Equatable {
    public var planned: Int
    public var sent: Int
    public var finished: Int
    public var inFlight: Int
    /// Seconds since the run's start.
    public var elapsed: Double
}

enum EngineEvent: Sendable {
    case started(calibrationLateness: [Double], realtimeWarning: String?, runStart: Double)
    case records([RequestRecord])
    case progress(LoadProgress)
    case finished(runLateness: [Double])
    case failed(String)
}

private let epollIn: UInt32 = 0x001, epollOut: UInt32 = 0x004, epollErr: UInt32 = 0x008, epollHup: UInt32 = 0x010
private let epollCtlAdd: Int32 = 1, epollCtlDel: Int32 = 2, epollCtlMod: Int32 = 3
private let nonBlockingCloseOnExec: Int32 = 0o4000 | 0o2000000
private let clockMonotonic: Int32 = 1
private let curlSocketTimeout: curl_socket_t = -1

/// The libcurl multi engine: one thread owns every curl handle, drives them with
/// `curl_multi_socket_action` over epoll, sends each planned request at its scheduled time, and
/// hands finished records to async code in batches.
final class Engine {
    private let job: EngineJob
    private let out: AsyncStream<EngineEvent>.Continuation
    private let wakeFD: Int32
    private let epollFD: Int32
    private let timerFD: Int32
    private let multi: UnsafeMutableRawPointer
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var watched = Set<Int32>()
    /// Absolute monotonic time at which curl wants `CURL_SOCKET_TIMEOUT`; nil when it has no timer.
    private var curlDeadline: Double?
    private var active: [Int: Transfer] = [:]
    private var firstTokenDeadlines: [(index: Int, deadline: Double)] = []
    private var firstTokenHead = 0
    private var batch: [RequestRecord] = []
    /// Bodies built ahead of their send time, by plan index.
    private var preparedBodies: [Int: [UInt8]] = [:]
    private var preparedUpTo = 0
    private var lateness: [Double] = []
    private var sent = 0, finished = 0
    private var runStart = 0.0

    static let batchInterval = 0.1
    /// Bodies built ahead while idle: a burst of sends then finds them ready.
    static let bodiesAhead = 64
    static let batchLimit = 512
    static let progressInterval = 0.25
    /// The run starts this long after set-up, so the first request is not late by construction.
    static let leadIn = 0.02

    /// Runs a job on the calling thread until every planned request has a record.
    static func run(job: EngineJob, wakeFD: Int32, out: AsyncStream<EngineEvent>.Continuation) {
        do {
            let engine = try Engine(job: job, wakeFD: wakeFD, out: out)
            engine.run()
        } catch {
            out.yield(.failed("\(error)"))
        }
        out.finish()
    }

    private init(job: EngineJob, wakeFD: Int32, out: AsyncStream<EngineEvent>.Continuation) throws {
        self.job = job
        self.out = out
        self.wakeFD = wakeFD
        epollFD = epoll_create1(0o2000000)
        timerFD = timerfd_create(clockMonotonic, nonBlockingCloseOnExec)
        guard epollFD >= 0, timerFD >= 0 else {
            throw LoadConfigurationError("epoll/timerfd set-up failed: errno \(metron_errno())")
        }
        guard let multi = curl_multi_init() else { throw LoadConfigurationError("curl_multi_init failed") }
        self.multi = multi
        for header in job.headers { headerList = curl_slist_append(headerList, header) }
        _ = metron_epoll_ctl(epollFD, epollCtlAdd, wakeFD, epollIn)
        _ = metron_epoll_ctl(epollFD, epollCtlAdd, timerFD, epollIn)
        let me = Unmanaged.passUnretained(self).toOpaque()
        _ = metron_multi_set_socket_function(multi, socketCallback)
        _ = metron_multi_set_ptr(multi, CURLMOPT_SOCKETDATA, me)
        _ = metron_multi_set_timer_function(multi, timerCallback)
        _ = metron_multi_set_ptr(multi, CURLMOPT_TIMERDATA, me)
    }

    deinit {
        active.removeAll()
        curl_multi_cleanup(multi)
        curl_slist_free_all(headerList)
        close(epollFD)
        close(timerFD)
    }

    // MARK: curl callbacks

    fileprivate func watch(socket fd: Int32, what: Int32) {
        if what == CURL_POLL_REMOVE {
            if watched.remove(fd) != nil { _ = metron_epoll_ctl(epollFD, epollCtlDel, fd, 0) }
            return
        }
        var mask: UInt32 = 0
        if what == CURL_POLL_IN || what == CURL_POLL_INOUT { mask |= epollIn }
        if what == CURL_POLL_OUT || what == CURL_POLL_INOUT { mask |= epollOut }
        let op = watched.insert(fd).inserted ? epollCtlAdd : epollCtlMod
        _ = metron_epoll_ctl(epollFD, op, fd, mask)
    }

    fileprivate func setCurlTimer(milliseconds: Int) {
        curlDeadline = milliseconds < 0 ? nil : metron_monotonic_seconds() + Double(milliseconds) / 1000
    }

    // MARK: the loop

    private func run() {
        var realtimeWarning: String?
        if job.realtime { realtimeWarning = RealtimePriority.enable() }
        let (calibration, interrupted) = measureTimerLateness(wakeups: job.calibrationWakeups)
        let plan = job.plan
        prepareBodies(from: 0)
        runStart = metron_monotonic_seconds() + Self.leadIn
        out.yield(.started(calibrationLateness: calibration, realtimeWarning: realtimeWarning, runStart: runStart))
        // Set when the last request has been sent: the drain is bounded from then on.
        var drainDeadline = Double.infinity
        var next = 0
        var stopping = interrupted
        var lastFlush = runStart, lastProgress = runStart
        var fds = [Int32](repeating: 0, count: 256), masks = [UInt32](repeating: 0, count: 256)

        while true {
            var now = metron_monotonic_seconds()
            var startedAny = false
            while next < plan.count, runStart + plan[next].arrival <= now, !stopping, !capped {
                start(index: next, now: now)
                next += 1
                startedAny = true
                now = metron_monotonic_seconds()
            }
            if startedAny {
                drive(socket: curlSocketTimeout, mask: 0)
                if next == plan.count { drainDeadline = now + job.drainTimeout }
            }
            expireFirstTokens(now: now)

            if next == plan.count, active.isEmpty { break }
            if stopping || now >= drainDeadline {
                let reason = stopping
                    ? "the run was interrupted before the request finished"
                    : "the run's final drain (\(job.drainTimeout) s after the last send) ended before the request finished"
                cancelRemaining(from: next, reason: reason)
                break
            }
            prepareBodies(from: next)
            if !batch.isEmpty, now - lastFlush >= Self.batchInterval || batch.count >= Self.batchLimit {
                flush()
                lastFlush = now
            }
            if now - lastProgress >= Self.progressInterval {
                out.yield(.progress(progress(now: now)))
                lastProgress = now
            }

            // Sleep until the earliest thing due: an arrival, curl's timer, a first-token deadline,
            // the drain limit, or the next batch hand-off.
            var wake = drainDeadline
            var arrivalTarget: Double?
            if next < plan.count, !capped {
                let t = runStart + plan[next].arrival
                if t < wake { wake = t; arrivalTarget = t }
            }
            if let d = curlDeadline, d < wake { wake = d; arrivalTarget = nil }
            if firstTokenHead < firstTokenDeadlines.count, firstTokenDeadlines[firstTokenHead].deadline < wake {
                wake = firstTokenDeadlines[firstTokenHead].deadline
                arrivalTarget = nil
            }
            let flushAt = batch.isEmpty ? Double.infinity : lastFlush + Self.batchInterval
            let progressAt = lastProgress + Self.progressInterval
            if min(flushAt, progressAt) < wake { wake = min(flushAt, progressAt); arrivalTarget = nil }

            let timeout: Int32
            if wake <= now {
                timeout = 0
            } else if !wake.isFinite {
                timeout = -1
            } else {
                _ = metron_timerfd_arm_absolute(timerFD, wake)
                timeout = -1
            }
            let n = fds.withUnsafeMutableBufferPointer { f in
                masks.withUnsafeMutableBufferPointer { m in
                    metron_epoll_wait(epollFD, f.baseAddress, m.baseAddress, Int32(f.count), timeout)
                }
            }
            let woke = metron_monotonic_seconds()
            if let target = arrivalTarget, woke >= target { lateness.append(woke - target) }
            if n > 0 {
                for i in 0..<Int(n) {
                    let fd = fds[i]
                    if fd == wakeFD {
                        var value: UInt64 = 0
                        _ = read(wakeFD, &value, 8)
                        stopping = true
                    } else if fd == timerFD {
                        var expirations: UInt64 = 0
                        _ = read(timerFD, &expirations, 8)
                    } else {
                        // A hang-up is read as readable, so curl reads what is left and then the end;
                        // an error alone makes curl fail the transfer with its own message.
                        var mask: Int32 = 0
                        if masks[i] & (epollIn | epollHup) != 0 { mask |= CURL_CSELECT_IN }
                        if masks[i] & epollOut != 0 { mask |= CURL_CSELECT_OUT }
                        if masks[i] & epollErr != 0 { mask |= CURL_CSELECT_ERR }
                        drive(socket: fd, mask: mask)
                    }
                }
            }
            if let d = curlDeadline, metron_monotonic_seconds() >= d {
                curlDeadline = nil
                drive(socket: curlSocketTimeout, mask: 0)
            }
        }
        flush()
        out.yield(.progress(progress(now: metron_monotonic_seconds())))
        out.yield(.finished(runLateness: lateness))
    }

    private var capped: Bool {
        guard let cap = job.maxInFlight else { return false }
        return active.count >= cap
    }

    private func progress(now: Double) -> LoadProgress {
        LoadProgress(planned: job.plan.count, sent: sent, finished: finished, inFlight: active.count,
                     elapsed: now - runStart)
    }

    private func prepareBodies(from next: Int) {
        preparedUpTo = max(preparedUpTo, next)
        while preparedUpTo < min(job.plan.count, next + Self.bodiesAhead) {
            // A body that fails to build is built again at its send, which records the error.
            if let body = try? job.makeBody(job.plan[preparedUpTo]) { preparedBodies[preparedUpTo] = body }
            preparedUpTo += 1
        }
    }

    private func start(index: Int, now: Double) {
        let planned = job.plan[index]
        let record = RequestRecord(
            id: planned.id, scheduledS: planned.arrival, sentS: now - runStart,
            requestedPromptTokens: planned.promptTokens, requestedOutputTokens: planned.outputTokens)
        let transfer: Transfer
        do {
            let body = try preparedBodies.removeValue(forKey: index) ?? job.makeBody(planned)
            transfer = try Transfer(index: index, record: record, body: body, runStart: runStart)
        } catch {
            var failed = record
            failed.sentS = nil
            failed.status = .clientError
            failed.error = "could not be prepared: \(error)"
            complete(record: failed)
            return
        }
        let easy = transfer.easy
        let me = Unmanaged.passUnretained(transfer).toOpaque()
        _ = metron_easy_set_string(easy, CURLOPT_URL, job.endpoint)
        _ = metron_easy_set_long(easy, CURLOPT_POST, 1)
        _ = metron_easy_set_ptr(easy, CURLOPT_POSTFIELDS, transfer.body.baseAddress)
        _ = metron_easy_set_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(transfer.bodyCount))
        _ = metron_easy_set_slist(easy, CURLOPT_HTTPHEADER, headerList)
        _ = metron_easy_set_write_function(easy, writeCallback)
        _ = metron_easy_set_ptr(easy, CURLOPT_WRITEDATA, me)
        _ = metron_easy_set_ptr(easy, CURLOPT_PRIVATE, me)
        _ = metron_easy_set_ptr(easy, CURLOPT_ERRORBUFFER, transfer.errorBuffer)
        _ = metron_easy_set_opensocket_function(easy, openSocketCallback)
        _ = metron_easy_set_ptr(easy, CURLOPT_OPENSOCKETDATA, me)
        _ = metron_easy_set_long(easy, CURLOPT_NOSIGNAL, 1)
        _ = metron_easy_set_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(job.timeouts.connect * 1000))
        _ = metron_easy_set_long(easy, CURLOPT_TIMEOUT_MS, Int(job.timeouts.total * 1000))
        if job.insecure {
            _ = metron_easy_set_long(easy, CURLOPT_SSL_VERIFYPEER, 0)
            _ = metron_easy_set_long(easy, CURLOPT_SSL_VERIFYHOST, 0)
        }
        active[index] = transfer
        sent += 1
        // Stamped after the handle is ready, right before libcurl gets it.
        let sentAt = metron_monotonic_seconds()
        transfer.record.sentS = sentAt - runStart
        firstTokenDeadlines.append((index, sentAt + job.timeouts.firstToken))
        let code = curl_multi_add_handle(multi, easy)
        if code != CURLM_OK {
            transfer.abort = (.clientError, "could not be added to curl: \(String(cString: curl_multi_strerror(code)))")
            active[index] = nil
            complete(record: transfer.finish(result: CURLE_OK, timeouts: job.timeouts))
        }
    }

    private func drive(socket: curl_socket_t, mask: Int32) {
        var running: Int32 = 0
        _ = curl_multi_socket_action(multi, socket, mask, &running)
        var left: Int32 = 0
        while let message = curl_multi_info_read(multi, &left) {
            guard metron_msg_is_done(message) != 0, let easy = metron_msg_easy(message) else { continue }
            let result = metron_msg_result(message)
            var pointer: UnsafeMutableRawPointer?
            _ = metron_easy_get_private(easy, &pointer)
            guard let pointer else { continue }
            let transfer = Unmanaged<Transfer>.fromOpaque(pointer).takeUnretainedValue()
            end(transfer, result: result)
        }
    }

    private func end(_ transfer: Transfer, result: CURLcode) {
        _ = curl_multi_remove_handle(multi, transfer.easy)
        complete(record: transfer.finish(result: result, timeouts: job.timeouts))
        active[transfer.index] = nil
    }

    /// First-token deadlines are queued in send order, so they expire in order too.
    private func expireFirstTokens(now: Double) {
        while firstTokenHead < firstTokenDeadlines.count, firstTokenDeadlines[firstTokenHead].deadline <= now {
            let index = firstTokenDeadlines[firstTokenHead].index
            firstTokenHead += 1
            if let transfer = active[index], !transfer.hasFirstToken {
                transfer.abort = (.timeout, "first-token timeout (\(job.timeouts.firstToken) s): no content chunk arrived")
                end(transfer, result: CURLE_OK)
            }
        }
        if firstTokenHead > 4096, firstTokenHead * 2 > firstTokenDeadlines.count {
            firstTokenDeadlines.removeFirst(firstTokenHead)
            firstTokenHead = 0
        }
    }

    private func cancelRemaining(from next: Int, reason: String) {
        for transfer in active.values.sorted(by: { $0.index < $1.index }) {
            transfer.abort = (.cancelled, reason)
            end(transfer, result: CURLE_OK)
        }
        for index in next..<job.plan.count {
            let p = job.plan[index]
            complete(record: RequestRecord(
                id: p.id, scheduledS: p.arrival, requestedPromptTokens: p.promptTokens,
                requestedOutputTokens: p.outputTokens, status: .cancelled,
                error: "never sent: " + (job.maxInFlight.map { "held back by the in-flight cap of \($0); " } ?? "") + reason))
        }
    }

    private func complete(record: RequestRecord) {
        finished += 1
        batch.append(record)
    }

    private func flush() {
        guard !batch.isEmpty else { return }
        out.yield(.records(batch))
        batch.removeAll(keepingCapacity: true)
    }

    /// Sleeps a millisecond at a time on the timerfd and records how late each wake-up was; stops
    /// early (and says so) when the run is interrupted.
    private func measureTimerLateness(wakeups: Int) -> (samples: [Double], interrupted: Bool) {
        var samples: [Double] = []
        samples.reserveCapacity(wakeups)
        var fds = [Int32](repeating: 0, count: 4), masks = [UInt32](repeating: 0, count: 4)
        for _ in 0..<wakeups {
            let target = metron_monotonic_seconds() + 0.001
            _ = metron_timerfd_arm_absolute(timerFD, target)
            var woke = false
            while !woke {
                let n = metron_epoll_wait(epollFD, &fds, &masks, 4, -1)
                for i in 0..<max(0, Int(n)) where fds[i] == timerFD {
                    var expirations: UInt64 = 0
                    _ = read(timerFD, &expirations, 8)
                    woke = true
                }
                if n > 0, fds[0..<Int(n)].contains(wakeFD) {
                    var value: UInt64 = 0
                    _ = read(wakeFD, &value, 8)
                    return (samples, true)
                }
            }
            samples.append(metron_monotonic_seconds() - target)
        }
        return (samples, false)
    }
}

private let socketCallback: curl_socket_callback = { _, fd, what, userp, _ in
    guard let userp else { return 0 }
    Unmanaged<Engine>.fromOpaque(userp).takeUnretainedValue().watch(socket: fd, what: what)
    return 0
}

private let timerCallback: curl_multi_timer_callback = { _, milliseconds, userp in
    guard let userp else { return 0 }
    Unmanaged<Engine>.fromOpaque(userp).takeUnretainedValue().setCurlTimer(milliseconds: milliseconds)
    return 0
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
private let writeCallback: curl_write_callback = { pointer, size, count, userdata in
    let now = metron_monotonic_seconds()
    let length = size * count
    guard let userdata else { return length }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    transfer.receive(UnsafeRawBufferPointer(start: pointer, count: length), at: now)
    return length
}

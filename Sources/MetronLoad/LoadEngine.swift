import CCurl
import CLinux
import Foundation
import MetronModel

/// Everything the engine thread needs, prepared before the run.
struct LoadJob: Sendable {
    /// The requests with a planned send time, sorted by it, then the turns that follow an answer.
    var plan: [PlannedRequest]
    /// How many requests of `plan` have a planned send time.
    var scheduledCount: Int
    /// Plan index of the turn that follows each turn's answer.
    var nextTurn: [Int: Int]
    /// Builds a request's body from the conversation before it (empty for a request that stands alone
    /// or opens a session), and the conversation it carries when it is a turn; called shortly before
    /// it is due, so bodies never pile up in memory.
    var makeBody: @Sendable (PlannedRequest, [ChatMessage]) throws -> (body: [UInt8], conversation: [ChatMessage]?)
    var endpoint: String
    var headers: [String]
    var insecure: Bool
    var timeouts: RequestTimeouts
    var maxInFlight: Int?
    var drainTimeout: Double
    var realtime: RealtimeMode
    var calibrationWakeups: Int
    /// Wall-clock Unix seconds of the run's time 0, or nil.
    var startAt: Double?
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

enum LoadEvent: Sendable {
    case started(calibrationLateness: [Double], realtimeGranted: Bool, realtimeWarning: String?, runStart: Double, runStartWallClock: Double)
    case records([RequestRecord])
    case progress(LoadProgress)
    case finished(runLateness: [Double])
    case failed(String)
}

/// The load engine: one thread owns every curl handle, drives them through `CurlMulti` over `Epoll`,
/// sends each planned request at its scheduled time, and hands finished records to async code in batches.
final class LoadEngine {
    private let job: LoadJob
    private let out: AsyncStream<LoadEvent>.Continuation
    private let wakeFD: Int32
    private let epoll: Epoll
    private let multi: CurlMulti
    private let headerList: UnsafeMutablePointer<curl_slist>?
    private var active: [Int: Transfer] = [:]
    private var firstTokenDeadlines: [(index: Int, deadline: Double)] = []
    private var firstTokenHead = 0
    private var batch: [RequestRecord] = []
    /// Bodies built ahead of their send time, by plan index.
    private var preparedBodies: [Int: (body: [UInt8], conversation: [ChatMessage]?)] = [:]
    private var preparedUpTo = 0
    /// Turns whose answer before them has ended: when each is due (monotonic), in time order, and the
    /// conversation it continues.
    private var dueTurns: [(time: Double, index: Int)] = []
    private var conversations: [Int: [ChatMessage]] = [:]
    /// Requests sent or recorded as never sent.
    private var dispatched = 0
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
    static func run(job: LoadJob, wakeFD: Int32, out: AsyncStream<LoadEvent>.Continuation) {
        do {
            let engine = try LoadEngine(job: job, wakeFD: wakeFD, out: out)
            try engine.run()
        } catch {
            out.yield(.failed("\(error)"))
        }
        out.finish()
    }

    private init(job: LoadJob, wakeFD: Int32, out: AsyncStream<LoadEvent>.Continuation) throws {
        self.job = job
        self.out = out
        self.wakeFD = wakeFD
        epoll = try Epoll()
        try epoll.watch(wakeFD, for: .readable, .raise)
        multi = try CurlMulti(epoll: epoll)
        headerList = try curlHeaderList(job.headers)
    }

    deinit {
        // Transfers leave the multi handle before it goes.
        active.removeAll()
        curl_slist_free_all(headerList)
    }

    private func run() throws {
        let refusal = job.realtime == .off ? nil : RealtimePriority.enable()
        let realtimeGranted = job.realtime != .off && refusal == nil
        let realtimeWarning = job.realtime == .on ? refusal : nil
        let (calibration, interrupted) = try measureTimerLateness(wakeups: job.calibrationWakeups)
        let plan = job.plan
        prepareBodies(from: 0)
        let (monotonicNow, wallNow) = (monotonicSeconds(), wallClockSeconds())
        runStart = monotonicNow + max(Self.leadIn, (job.startAt ?? 0) - wallNow)
        out.yield(.started(calibrationLateness: calibration, realtimeGranted: realtimeGranted, realtimeWarning: realtimeWarning, runStart: runStart,
                           runStartWallClock: wallNow + (runStart - monotonicNow)))
        // Set when the last request has been sent: the drain is bounded from then on.
        var drainDeadline = Double.infinity
        var next = 0
        var stopping = interrupted
        var lastFlush = runStart, lastProgress = runStart

        while true {
            var now = monotonicSeconds()
            var startedAny = false
            while !stopping, !capped {
                let turnDue = dueTurns.first.map { $0.time <= now } ?? false
                if turnDue {
                    let (time, index) = dueTurns.removeFirst()
                    start(index: index, scheduledS: time - runStart)
                } else if next < job.scheduledCount, runStart + plan[next].arrival <= now {
                    start(index: next, scheduledS: plan[next].arrival)
                    next += 1
                } else {
                    break
                }
                startedAny = true
                now = monotonicSeconds()
            }
            if startedAny { multi.timeout(finished: end) }
            expireFirstTokens(now: now)
            if dispatched == plan.count, !drainDeadline.isFinite { drainDeadline = now + job.drainTimeout }

            if dispatched == plan.count, active.isEmpty { break }
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
            if !capped {
                let planned = next < job.scheduledCount ? runStart + plan[next].arrival : Double.infinity
                let t = min(planned, dueTurns.first?.time ?? .infinity)
                if t < wake { wake = t; arrivalTarget = t }
            }
            if let d = multi.timeoutDeadline, d < wake { wake = d; arrivalTarget = nil }
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
            } else if !wake.isFinite
                || epoll.armTimer(at: wake, .log("the wait falls back to epoll's millisecond timeout")) {
                timeout = -1
            } else {
                timeout = Int32(min(((wake - now) * 1000).rounded(.up), Double(Int32.max)))
            }
            let readyCount = epoll.wait(timeoutMS: timeout)
            let woke = monotonicSeconds()
            if let target = arrivalTarget, woke >= target { lateness.append(woke - target) }
            for i in 0..<readyCount {
                let (fd, events) = epoll.ready(i)
                if fd == wakeFD {
                    Epoll.drainCounter(fd, "eventfd")
                    stopping = true
                } else if fd == epoll.timerFD {
                    Epoll.drainCounter(fd, "timerfd")
                } else {
                    multi.socketReady(fd, events, finished: end)
                }
            }
            multi.timeoutIfDue(now: monotonicSeconds(), finished: end)
        }
        flush()
        out.yield(.progress(progress(now: monotonicSeconds())))
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

    /// Builds the bodies of requests with a planned send time ahead; a turn that follows an answer is
    /// built when it is due.
    private func prepareBodies(from next: Int) {
        preparedUpTo = max(preparedUpTo, next)
        while preparedUpTo < min(job.scheduledCount, next + Self.bodiesAhead) {
            // A body that fails to build is built again at its send, which records the error.
            if let built = try? job.makeBody(job.plan[preparedUpTo], []) { preparedBodies[preparedUpTo] = built }
            preparedUpTo += 1
        }
    }

    private func record(of planned: PlannedRequest, scheduledS: Double) -> RequestRecord {
        var record = RequestRecord(
            id: planned.id, scheduledS: scheduledS, requestedPromptTokens: planned.promptTokens,
            requestedOutputTokens: planned.outputTokens)
        record.session = planned.turn?.session
        record.turn = planned.turn?.index
        return record
    }

    private func start(index: Int, scheduledS: Double) {
        dispatched += 1
        let planned = job.plan[index]
        let record = record(of: planned, scheduledS: scheduledS)
        let transfer: Transfer
        do {
            let built = try preparedBodies.removeValue(forKey: index)
                ?? job.makeBody(planned, conversations.removeValue(forKey: index) ?? [])
            transfer = try Transfer(index: index, record: record, body: built.body, runStart: runStart)
            transfer.conversation = built.conversation
            try transfer.prepare(url: job.endpoint, headers: headerList, timeouts: job.timeouts, insecure: job.insecure)
        } catch {
            var failed = record
            failed.status = .clientError
            failed.error = "could not be prepared: \(error)"
            complete(record: failed, index: index)
            return
        }
        active[index] = transfer
        sent += 1
        // Stamped after the handle is ready, right before libcurl gets it.
        let sentAt = monotonicSeconds()
        transfer.record.sentS = sentAt - runStart
        firstTokenDeadlines.append((index, sentAt + job.timeouts.firstToken))
        do throws(CCallError) {
            try multi.add(transfer.easy)
        } catch {
            transfer.abort = (.clientError, "could not be added to curl: \(error.reason)")
            active[index] = nil
            complete(record: transfer.finish(result: CURLE_OK, timeouts: job.timeouts), index: index, transfer: transfer)
        }
    }

    private func end(_ transfer: Transfer, result: CURLcode) {
        multi.remove(transfer.easy)
        active[transfer.index] = nil
        complete(record: transfer.finish(result: result, timeouts: job.timeouts), index: transfer.index, transfer: transfer)
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
        stoppingReason = reason
        for transfer in active.values.sorted(by: { $0.index < $1.index }) {
            transfer.abort = (.cancelled, reason)
            end(transfer, result: CURLE_OK)
        }
        let unsent = "never sent: " + (job.maxInFlight.map { "held back by the in-flight cap of \($0); " } ?? "") + reason
        for (time, index) in dueTurns { neverSent(index: index, scheduledS: time - runStart, why: unsent) }
        dueTurns.removeAll()
        for index in next..<job.scheduledCount { neverSent(index: index, scheduledS: job.plan[index].arrival, why: unsent) }
    }

    /// Set once the run is being cut short: turns that would follow an answer are then never sent.
    private var stoppingReason: String?

    private func neverSent(index: Int, scheduledS: Double, why: String, status: RequestStatus = .cancelled) {
        dispatched += 1
        var unsent = record(of: job.plan[index], scheduledS: scheduledS)
        unsent.status = status
        unsent.error = why
        complete(record: unsent, index: index)
    }

    /// Records a finished request; for a turn, schedules the next turn of its session after the think
    /// time, or, when this turn failed or the run is ending, records the rest of the session as never sent.
    private func complete(record: RequestRecord, index: Int, transfer: Transfer? = nil) {
        finished += 1
        batch.append(record)
        guard let following = job.nextTurn[index] else { return }
        let planned = job.plan[following]
        if record.succeeded, stoppingReason == nil, let conversation = transfer?.conversation {
            conversations[following] = conversation + [ChatMessage(role: "assistant", content: transfer?.answer ?? "")]
            let due = monotonicSeconds() + (planned.turn?.thinkTimeS ?? 0)
            let at = dueTurns.firstIndex { $0.time > due } ?? dueTurns.endIndex
            dueTurns.insert((due, following), at: at)
        } else if let stoppingReason {
            neverSent(index: following, scheduledS: record.scheduledS, why: "never sent: \(stoppingReason)")
        } else {
            let why = "never sent: turn \(record.turn ?? 0) of session \(record.session ?? 0) before it ended as \(record.status.rawValue)"
            neverSent(index: following, scheduledS: record.scheduledS, why: why, status: .sessionEnded)
        }
    }

    private func flush() {
        guard !batch.isEmpty else { return }
        out.yield(.records(batch))
        batch.removeAll(keepingCapacity: true)
    }

    /// Sleeps a millisecond at a time on the timerfd and records how late each wake-up was; stops
    /// early (and says so) when the run is interrupted.
    private func measureTimerLateness(wakeups: Int) throws -> (samples: [Double], interrupted: Bool) {
        var samples: [Double] = []
        samples.reserveCapacity(wakeups)
        for _ in 0..<wakeups {
            let target = monotonicSeconds() + 0.001
            // Unarmed, the wait below would never end.
            try epoll.armTimer(at: target, .raise)
            var woke = false
            while !woke {
                var interrupted = false
                for i in 0..<epoll.wait(timeoutMS: -1) {
                    let fd = epoll.ready(i).fd
                    if fd == epoll.timerFD {
                        Epoll.drainCounter(fd, "timerfd")
                        woke = true
                    } else if fd == wakeFD {
                        interrupted = true
                    }
                }
                if interrupted {
                    Epoll.drainCounter(wakeFD, "eventfd")
                    return (samples, true)
                }
            }
            samples.append(monotonicSeconds() - target)
        }
        return (samples, false)
    }
}

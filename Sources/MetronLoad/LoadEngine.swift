import CCurl
import CLinux
import Foundation
import MetronModel

/// Everything the engine thread needs, prepared before the run.
struct LoadJob: Sendable {
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
            while next < plan.count, runStart + plan[next].arrival <= now, !stopping, !capped {
                start(index: next, now: now)
                next += 1
                startedAny = true
                now = monotonicSeconds()
            }
            if startedAny {
                multi.timeout(finished: end)
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
            try transfer.prepare(url: job.endpoint, headers: headerList, timeouts: job.timeouts, insecure: job.insecure)
        } catch {
            var failed = record
            failed.sentS = nil
            failed.status = .clientError
            failed.error = "could not be prepared: \(error)"
            complete(record: failed)
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
            complete(record: transfer.finish(result: CURLE_OK, timeouts: job.timeouts))
        }
    }

    private func end(_ transfer: Transfer, result: CURLcode) {
        multi.remove(transfer.easy)
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

import CLinux
import Foundation
import MetronModel

/// The client machine as provenance records it, and its timer lateness before any load is sent.
public enum ClientSurvey {
    public static func host(realtime: RealtimeMode, granted: Bool) -> ClientHost {
        ClientHost(cpuModel: cpuModel(), cores: ProcessInfo.processInfo.activeProcessorCount, kernel: kernel(),
                   realtimeRequested: realtime != .off, realtimeGranted: granted)
    }

    /// Sleeps of one millisecond on a fresh thread, at real-time priority where `realtime` asks for
    /// it and it is granted, as the load generator's engine thread would run; returns the host and
    /// each sleep's lateness.
    public static func measureAtStart(realtime: RealtimeMode, wakeups: Int = 200) -> (host: ClientHost, lateness: [Double]) {
        final class Outcome: @unchecked Sendable {
            var lateness: [Double] = []
            var granted = false
        }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            if realtime != .off { outcome.granted = RealtimePriority.enable() == nil }
            for _ in 0..<wakeups {
                let target = monotonicSeconds() + 0.001
                var until = timespec(tv_sec: Int(target), tv_nsec: Int((target - target.rounded(.down)) * 1e9))
                while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nil) == EINTR {}
                outcome.lateness.append(max(0, monotonicSeconds() - target))
            }
            done.signal()
        }
        thread.start()
        done.wait()
        return (host(realtime: realtime, granted: outcome.granted), outcome.lateness)
    }

    static func cpuModel() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    /// Like `uname -srm`.
    static func kernel() -> String {
        var names = utsname()
        guard uname(&names) == 0 else { return "unknown" }
        func field<T>(_ value: inout T) -> String {
            withUnsafePointer(to: &value) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
        }
        return "\(field(&names.sysname)) \(field(&names.release)) \(field(&names.machine))"
    }
}

/// What a server says about itself, asked once per request kind with a short timeout; every failure
/// is recorded, none is fatal.
public enum ServerSurvey {
    /// Longest body kept, characters.
    static let bodyLimit = 600

    public static func describe(system: String, target: ServerTarget, timeout: Double = 2) -> ServerDescription {
        let client = BlockingHTTP(target: target, timeout: timeout)
        var description = ServerDescription(system: system, url: ServerTarget.withoutCredentials(target.url))
        let modelsURL = target.endpointURL.dropLast(target.api.pathSuffix.count) + "/models"
        let root = target.rootURL
        for (name, url) in [("/v1/models", String(modelsURL)), ("/version", root + "/version"), ("/metrics", root + "/metrics")] {
            let response: BlockingHTTP.Response
            do { response = try client.send(url: url, body: nil) } catch {
                description.failures.append("\(error)")
                continue
            }
            if description.serverHeader == nil { description.serverHeader = response.serverHeader }
            guard response.status == 200 else {
                description.failures.append("GET \(name): HTTP \(response.status)")
                continue
            }
            let body = String(decoding: response.body, as: UTF8.self)
            switch name {
            case "/v1/models": description.models = trimmed(body)
            case "/version": description.version = trimmed(body)
            default:
                let gauges = buildInfo(metrics: body)
                if gauges.isEmpty { description.failures.append("GET /metrics: no build-info gauge") } else { description.buildInfo = gauges }
            }
        }
        return description
    }

    /// Gauges such as `vllm_build_info{version="0.6.3"} 1`: the first few named `*build_info*` or `*version*`.
    static func buildInfo(metrics: String) -> [String] {
        let lines = metrics.split(separator: "\n").filter { line in
            guard !line.hasPrefix("#") else { return false }
            let name = line.prefix { $0 != "{" && $0 != " " }.lowercased()
            return name.contains("build_info") || name.contains("version")
        }
        return lines.prefix(5).map { trimmed(String($0)) }
    }

    /// One line, whitespace collapsed, cut at `bodyLimit`.
    static func trimmed(_ text: String) -> String {
        let line = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        return line.count > bodyLimit ? line.prefix(bodyLimit) + "..." : line
    }
}

/// How far the wall clock may be off true time, as the kernel's NTP/PTP discipline bounds it.
public enum ClockSync {
    /// Seconds; nil when no daemon synchronises the clock.
    public static func maxErrorS() -> Double? {
        let e = metron_clock_max_error()
        return e < 0 ? nil : e
    }
}

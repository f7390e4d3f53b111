import Foundation
import MetronModel
import MetronSearch

/// `capacity.json` on disk, its row of `capacity.csv`, and its text for a terminal.
extension CapacityResult {
    public static let fileName = "capacity.json"
    /// Names probes whose probe.json records no version (measured before versions were recorded).
    public static let unrecordedVersion = "unrecorded"

    public func write(to directory: URL) throws {
        try AtomicWrite.json(self, to: directory.appendingPathComponent(Self.fileName))
    }

    public static func read(from directory: URL) throws -> CapacityResult {
        try JSON.decode(CapacityResult.self, from: directory.appendingPathComponent(fileName))
    }

    /// The row of `capacity.csv` for this search.
    public func systemCapacity(system: String, gpus: Int?, usdPerHour: Double?) -> SystemCapacity {
        SystemCapacity(system: system, maxQPS: maxQPS, ciLow: ciLow, ciHigh: ciHigh, outputTokensPerS: outputTokensPerS,
                       gpus: gpus, usdPerHour: usdPerHour, statisticalInterval: intervalMethod != .bracket,
                       confidence: confidence, undetermined: undetermined, pairedWithNext: pairedWithNext)
    }

    /// A few lines for a terminal: the answer, how it was found, and every warning.
    public var summaryText: String {
        var lines: [String] = []
        if simulated { lines.append("SIMULATED: virtual-time serving model, not a real server") }
        let level = Int((confidence * 100).rounded())
        let unit = rateUnit
        if let why = undetermined {
            let range = ciLow.map { lo in ciHigh.map { String(format: "between %.3f and %.3f \(unit)", lo, $0) }
                ?? String(format: "at least %.3f \(unit)", lo) } ?? ciHigh.map { String(format: "at most %.3f \(unit)", $0) }
            lines.append("capacity not determined: " + (range.map { "\($0) (\(level) %)" } ?? "no bound on either side") + ": \(why)")
            if highestPass != nil || lowestFailure != nil {
                let probes = [highestPass.map { String(format: "highest pass %.3f", $0) },
                              lowestFailure.map { String(format: "lowest failure above it %.3f", $0) }].compactMap { $0 }
                lines.append(probes.joined(separator: ", ") + " \(unit): single probes, not bounds")
            }
        } else if let q = maxQPS {
            let interval = ciLow.flatMap { lo in ciHigh.map { hi in String(format: "[%.3f, %.3f]", lo, hi) } }
                ?? (ciLow.map { String(format: "[%.3f, unbounded]", $0) } ?? "[no interval]")
            let method = intervalMethod == .bracket ? "bracket between probes, not a statistical interval"
                : "\(level) % profile-likelihood interval"
            lines.append(requestsPerSession == nil ? String(format: "max sustainable QPS %.3f ", q) + "\(interval) (\(method))"
                : String(format: "max sustainable rate %.3f sessions/s ", q) + "\(interval) (\(method))")
        } else {
            lines.append("no sustainable rate found" + (ciHigh.map { String(format: ": the SLO failed at %.3f \(unit)", $0) } ?? ""))
        }
        if let perSession = requestsPerSession {
            lines.append(String(format: "%.2f requests per session in the valid probes' windows", perSession)
                + (maxQPS.map { String(format: ": about %.3f req/s at capacity", $0 * perSession) } ?? ""))
        }
        if let t = outputTokensPerS { lines.append(String(format: "output tokens/s at capacity: %.1f", t)) }
        lines.append("SLO: \(slo.description)")
        lines.append("\(strategy.rawValue) search, \(probes.count) probes, stopped: \(stopReason.rawValue.replacingOccurrences(of: "_", with: " "))")
        lines += warnings.map { "warning: \($0)" }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The rate/attainment table for a terminal; a "measured by" column when probes span Metron versions.
    public var probeTable: String {
        let mixed = provenance?.probeMetronVersions != nil
        let rows = probes.sorted { ($0.rate, $0.attempt) < ($1.rate, $1.attempt) }.map { p -> [String] in
            [String(format: "%.3f", p.rate), p.achievedRate.map { String(format: "%.3f", $0) } ?? "-", "\(p.requests)",
             p.p99Fluidity.map { String(format: "%.4f", $0) } ?? "-", String(format: "%.2f%%", p.errorRate * 100),
             String(format: "%.4f", p.attainment), p.valid ? "yes" : "NO", p.passed ? "pass" : "FAIL",
             p.reasons.joined(separator: "; ")] + (mixed ? [p.metronVersion ?? Self.unrecordedVersion] : [])
        }
        return TextTable.render(
            header: ["rate", "achieved", "requests", "P\(compactNumber(slo.attainmentLevel * 100)) fluid.", "errors", "attainment",
                     "valid", "verdict", "reasons"] + (mixed ? ["measured by"] : []),
            rows: rows)
    }
}

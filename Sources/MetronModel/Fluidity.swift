import Foundation

/// Deadline counts of one request or of a whole service (METRICS.md section 3).
public struct DeadlineCount: Sendable, Equatable, Codable {
    public var missed: Int
    public var total: Int

    public init(missed: Int = 0, total: Int = 0) {
        self.missed = missed
        self.total = total
    }

    /// missed / total, 0 when there were no deadlines.
    public var missRate: Double { total == 0 ? 0 : Double(missed) / Double(total) }
    public var fluidityIndex: Double { 1 - missRate }

    public static func + (a: DeadlineCount, b: DeadlineCount) -> DeadlineCount {
        DeadlineCount(missed: a.missed + b.missed, total: a.total + b.total)
    }
}

/// The reference's deadline algorithm: every token has a deadline; slack from early tokens carries
/// forward; a late token costs one missed deadline for every `tbtDeadline` it overran.
public enum Fluidity {
    /// The reference bisects the per-token deadline over [0, 1e10]; 1e10 means "never met".
    public static let neverMet = 1e10

    public static func deadlines(
        _ x: [Double], ttftDeadline: Double, tbtDeadline: Double, ignoreFirstToken: Bool = false
    ) -> DeadlineCount {
        x.withUnsafeBufferPointer {
            deadlines($0, ttftDeadline: ttftDeadline, tbtDeadline: tbtDeadline, ignoreFirstToken: ignoreFirstToken)
        }
    }

    public static func deadlines(
        _ x: UnsafeBufferPointer<Double>, ttftDeadline dp: Double, tbtDeadline dd: Double, ignoreFirstToken: Bool
    ) -> DeadlineCount {
        var slack = 0.0
        var missed = 0, total = 0
        for i in 0..<x.count {
            let t = x[i]
            let k: Int
            if i == 0 {
                if ignoreFirstToken { continue }
                if t <= dp + slack { slack += dp - t; total += 1; continue }
                k = 1 + Int(pythonFloorDiv(t - slack - dp, dd))
            } else {
                if t <= dd + slack { slack += dd - t; total += 1; continue }
                k = Int(pythonFloorDiv(t - slack, dd))
            }
            missed += k
            total += k
            slack = 0
        }
        return DeadlineCount(missed: missed, total: total)
    }

    /// Python's float `a // b`, bit for bit (it differs from `floor(a / b)` in the last place).
    @inline(__always)
    public static func pythonFloorDiv(_ a: Double, _ b: Double) -> Double {
        // Fast path for the common case. Python rounds (a - fmod(a, b)) / b to the nearest integer,
        // which is the exact floor n of a / b while n is far below 2^52; q is that floor exactly
        // when the remainder a - q b, exact in one fused operation, lies in [0, b).
        if a >= 0 && b > 0 {
            let q = (a / b).rounded(.down)
            if q < 0x1p50, case let r = a.addingProduct(-q, b), r >= 0 && r < b { return q }
        }
        return pythonFloorDivByFmod(a, b)
    }

    static func pythonFloorDivByFmod(_ a: Double, _ b: Double) -> Double {
        let mod = fmod(a, b)
        var div = (a - mod) / b
        if mod != 0 && (b < 0) != (mod < 0) { div -= 1 }
        let floorDiv = div.rounded(.down)
        return div - floorDiv > 0.5 ? floorDiv + 1 : floorDiv
    }

    /// The smallest per-token deadline whose miss rate is at most `target`, by the reference's
    /// bisection (1e-4 s steps over [0, 1e10]); `neverMet` if none is.
    public static func minTBTDeadlineToMeet(
        _ x: [Double], target: Double, ttftDeadline: Double, ignoreFirstToken: Bool = false
    ) -> Double {
        x.withUnsafeBufferPointer { buffer in
            let largestLaterGap = buffer.dropFirst().max() ?? 0
            var deadline = neverMet
            var left = 0.0, right = neverMet
            let step = 1e-4
            while right - left > step {
                let mid = (left + right) / 2
                let missesTooMany = mid >= largestLaterGap
                    ? deadlinesAllLaterTokensOnTime(buffer, ttftDeadline: ttftDeadline, tbtDeadline: mid, ignoreFirstToken: ignoreFirstToken)
                        .missRate > target
                    : missRateExceeds(target, buffer, ttftDeadline: ttftDeadline, tbtDeadline: mid, ignoreFirstToken: ignoreFirstToken)
                if missesTooMany {
                    left = mid + step
                } else {
                    deadline = mid
                    right = mid - step
                }
            }
            return deadline
        }
    }

    /// `deadlines(...).missRate > target`, stopping as soon as the answer is known: the tokens
    /// not yet seen can lower the rate to no less than missed / (total + tokens left), since a
    /// late token adds as many deadlines as it misses.
    static func missRateExceeds(
        _ target: Double, _ x: UnsafeBufferPointer<Double>, ttftDeadline dp: Double, tbtDeadline dd: Double,
        ignoreFirstToken: Bool
    ) -> Bool {
        guard let first = x.first else { return false }
        var slack = 0.0
        var missed = 0, total = 0
        if !ignoreFirstToken {
            if first <= dp {
                slack = dp - first
                total = 1
            } else {
                missed = 1 + Int(pythonFloorDiv(first - dp, dd))
                total = missed
            }
        }
        var i = 1
        while i < x.count {
            let stop = Swift.min(x.count, i + 64)
            while i < stop {
                let t = x[i]
                i += 1
                if t <= dd + slack { slack += dd - t; total += 1; continue }
                let k = Int(pythonFloorDiv(t - slack, dd))
                missed += k
                total += k
                slack = 0
            }
            let bound = total + (x.count - i)
            if bound > 0 && Double(missed) / Double(bound) > target { return true }
        }
        return DeadlineCount(missed: missed, total: total).missRate > target
    }

    /// `deadlines` in O(1) when no later gap exceeds `tbtDeadline`: slack never goes negative, so
    /// every later token is on time and only the first token can miss. Same result, bit for bit.
    static func deadlinesAllLaterTokensOnTime(
        _ x: UnsafeBufferPointer<Double>, ttftDeadline dp: Double, tbtDeadline dd: Double, ignoreFirstToken: Bool
    ) -> DeadlineCount {
        guard let first = x.first else { return DeadlineCount() }
        let later = x.count - 1
        if ignoreFirstToken { return DeadlineCount(missed: 0, total: later) }
        if first <= dp { return DeadlineCount(missed: 0, total: later + 1) }
        let k = 1 + Int(pythonFloorDiv(first - dp, dd))
        return DeadlineCount(missed: k, total: k + later)
    }
}

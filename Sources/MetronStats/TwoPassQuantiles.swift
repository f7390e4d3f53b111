#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Exact linear-interpolation quantiles of a stream too large to hold, in two passes over it:
/// the first counts values per narrow bucket, the second keeps only the values of the buckets that
/// hold the order statistics the quantiles need. Results equal `Stats.quantile` on the whole sample.
public struct TwoPassQuantiles: Sendable {
    public let quantiles: [Double]
    /// Counts of the buckets of positive values from 2^-40 to 2^24 s, in a flat array because this
    /// is called once per token; zeros in a counter, anything else (negatives, extremes) in a dictionary.
    private var denseCounts = DenseCounts()
    private var sparseCounts: [Int: Int] = [:]
    /// Of zeros, common (the later tokens of a multi-token chunk), kept out of the dictionary.
    private var zeros = 0
    private var kept: [Double: Int] = [:]
    /// What the second pass keeps; set by `beginSecondPass`.
    public private(set) var filter = Filter()
    public private(set) var count = 0
    public private(set) var sum = 0.0
    public private(set) var min = Double.infinity
    public private(set) var max = -Double.infinity
    /// Set by `beginSecondPass`: false when the first pass already answers everything.
    public private(set) var needsSecondPass = false

    public init(quantiles: [Double]) {
        precondition(quantiles.allSatisfy { (0...1).contains($0) })
        self.quantiles = quantiles
    }

    /// A key that is monotone in x: sign, exponent and the top 12 mantissa bits (4096 buckets per
    /// power of two).
    @inlinable @inline(__always)
    public static func bucket(_ x: Double) -> Int {
        // + 0 turns -0.0 into +0.0, whose bucket it shares (its sign bit would sort it last).
        let x = x + 0
        return x >= 0 ? Int(x.bitPattern >> 40) : -Int((-x).bitPattern >> 40) - 1
    }

    static let denseBase = bucket(0x1p-40), denseEnd = bucket(0x1p24)

    public mutating func addFirstPass(_ x: Double) {
        let key = Self.bucket(x)
        if key >= Self.denseBase && key < Self.denseEnd {
            denseCounts.uniqueCounts(Self.denseEnd - Self.denseBase)[key - Self.denseBase] += 1
        } else if x == 0 {
            zeros += 1
        } else {
            sparseCounts[key, default: 0] += 1
        }
        count += 1
        sum += x
        if x < min { min = x }
        if x > max { max = x }
    }

    /// All non-empty buckets in order, with their counts.
    private var bucketCounts: [(key: Int, count: Int)] {
        var all = sparseCounts.map { (key: $0.key, count: $0.value) }
        if zeros > 0 { all.append((Self.bucket(0), zeros)) }
        if let counts = denseCounts.counts {
            for i in 0..<(Self.denseEnd - Self.denseBase) where counts[i] > 0 { all.append((Self.denseBase + i, counts[i])) }
        }
        return all.sorted { $0.key < $1.key }
    }

    public mutating func addFirstPass(contentsOf values: ArraySlice<Double>) {
        values.withUnsafeBufferPointer { addFirstPass(count: $0.count) { [base = $0.baseAddress] i in base![i] } }
    }

    /// Adds the gaps between consecutive times.
    public mutating func addFirstPass(gapsOf times: [Double]) {
        guard times.count > 1 else { return }
        times.withUnsafeBufferPointer { t in
            addFirstPass(count: t.count - 1) { [base = t.baseAddress!] i in base[i + 1] - base[i] }
        }
    }

    /// `addFirstPass` of `value(0) ..< value(n)` in order, with the dense counts held by pointer:
    /// the same counts, sum, min and max as one call per value.
    @inline(__always)
    private mutating func addFirstPass(count n: Int, _ value: (Int) -> Double) {
        guard n > 0 else { return }
        let counts = denseCounts.uniqueCounts(Self.denseEnd - Self.denseBase)
        var sum = self.sum, min = self.min, max = self.max
        var outside: [Double] = []
        for i in 0..<n {
            let x = value(i)
            let key = Self.bucket(x)
            if key >= Self.denseBase && key < Self.denseEnd {
                counts[key - Self.denseBase] += 1
            } else if x == 0 {
                zeros += 1
            } else {
                outside.append(x)
            }
            sum += x
            if x < min { min = x }
            if x > max { max = x }
        }
        for x in outside { sparseCounts[Self.bucket(x), default: 0] += 1 }
        count += n
        self.sum = sum
        self.min = min
        self.max = max
    }

    public mutating func beginSecondPass() {
        guard count > 0 else { return }
        var ranks: Set<Int> = []
        for q in quantiles {
            let (lhs, _) = Stats.quantilePosition(q, count: count)
            ranks.insert(lhs)
            if lhs + 1 < count { ranks.insert(lhs + 1) }
        }
        var below = 0, wanted: [Int] = []
        for (key, c) in bucketCounts {
            if ranks.contains(where: { $0 >= below && $0 < below + c }) { wanted.append(key) }
            below += c
        }
        filter = Filter(wanted: wanted)
        needsSecondPass = true
    }

    public mutating func addSecondPass(_ x: Double) {
        if filter.wants(x) { kept[x, default: 0] += 1 }
    }

    /// Values its `filter` has already chosen, from anywhere in the stream: the second pass may
    /// run in any order, on other threads, since what it keeps is a multiset.
    public mutating func addKept(_ x: Double, times n: Int = 1) {
        kept[x, default: 0] += n
    }

    /// The buckets whose values the second pass keeps (at most two per quantile); usable on any thread.
    public struct Filter: Sendable {
        @usableFromInline let wanted: [Int]
        @usableFromInline let low: Int, high: Int
        /// Bit `key - low` set for each wanted key, when that range is not too wide.
        @usableFromInline let bits: [UInt64]

        init(wanted: [Int] = []) {
            self.wanted = wanted
            low = wanted.min() ?? Int.max
            high = wanted.max() ?? Int.min
            var bits: [UInt64] = []
            if !wanted.isEmpty && high - low < 1 << 22 {
                bits = Array(repeating: 0, count: (high - low) / 64 + 1)
                for w in wanted { bits[(w - low) >> 6] |= 1 << UInt64((w - low) & 63) }
            }
            self.bits = bits
        }

        /// Whether the second pass keeps `x`: it lies in a bucket that holds a needed order statistic.
        @inlinable @inline(__always)
        public func wants(_ x: Double) -> Bool { wants(bucket: TwoPassQuantiles.bucket(x)) }

        /// `wants(x)` for a value whose bucket is known, for one value tested against two filters.
        @inlinable @inline(__always)
        public func wants(bucket key: Int) -> Bool {
            guard !bits.isEmpty else { return key >= low && key <= high && wanted.contains(key) }
            // Without a branch on the range, which about half the values fall in: the word index
            // is clamped and the mask cleared outside it.
            let offset = UInt(bitPattern: key &- low)
            let word = bits.withUnsafeBufferPointer { $0[Int(Swift.min(offset >> 6, UInt($0.count - 1)))] }
            let inRange: UInt64 = offset < UInt(bits.count) << 6 ? ~0 : 0
            return word & inRange & (1 << UInt64(offset & 63)) != 0
        }

        /// The gaps between consecutive times that the second pass keeps.
        public func wantedGaps(of times: [Double]) -> [Double] {
            guard !wanted.isEmpty, times.count > 1 else { return [] }
            var found: [Double] = []
            times.withUnsafeBufferPointer { t in
                for i in 1..<t.count {
                    let x = t[i] - t[i - 1]
                    if wants(x) { found.append(x) }
                }
            }
            return found
        }
    }

    /// The quantiles, in the order given; nil for an empty stream.
    public func results() -> [Double?] {
        guard count > 0 else { return quantiles.map { _ in nil } }
        // Each wanted bucket's kept values in order, and how many values lie below the bucket.
        let buckets = bucketCounts
        let keys = buckets.map(\.key)
        var starts: [Int] = []
        var below = 0
        for (_, c) in buckets { starts.append(below); below += c }
        var byBucket: [Int: [(value: Double, count: Int)]] = [:]
        for (v, c) in kept { byBucket[Self.bucket(v), default: []].append((v, c)) }
        func orderStatistic(_ rank: Int) -> Double {
            // The last bucket starting at or below the rank holds it.
            var i = 0
            while i + 1 < keys.count && starts[i + 1] <= rank { i += 1 }
            var r = starts[i]
            let values = (byBucket[keys[i]] ?? []).sorted { $0.value < $1.value }
            for (v, c) in values {
                if rank < r + c { return v }
                r += c
            }
            preconditionFailure("rank \(rank) not kept: the second pass saw other values than the first")
        }
        return quantiles.map { q in
            let (lhs, fraction) = Stats.quantilePosition(q, count: count)
            if lhs == count - 1 { return orderStatistic(lhs) }
            return Stats.interpolate(orderStatistic(lhs), orderStatistic(lhs + 1), fraction)
        }
    }
}

/// The dense bucket counts, from calloc: the pages of buckets never counted stay untouched (most
/// of them), so they cost no memory. Copied on write, as an array would be.
private struct DenseCounts: @unchecked Sendable {
    final class Storage {
        let counts: UnsafeMutablePointer<Int>
        let size: Int

        init(size: Int, copying other: UnsafeMutablePointer<Int>? = nil) {
            self.size = size
            counts = calloc(size, MemoryLayout<Int>.stride)!.assumingMemoryBound(to: Int.self)
            if let other { counts.update(from: other, count: size) }
        }

        deinit { free(counts) }
    }

    private var storage: Storage?

    var counts: UnsafeMutablePointer<Int>? { storage?.counts }

    /// The counts, allocated on first use and never shared with a copy.
    mutating func uniqueCounts(_ size: Int) -> UnsafeMutablePointer<Int> {
        if storage == nil {
            storage = Storage(size: size)
        } else if !isKnownUniquelyReferenced(&storage!) {
            storage = Storage(size: size, copying: storage!.counts)
        }
        return storage!.counts
    }
}

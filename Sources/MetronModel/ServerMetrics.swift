import Foundation

/// A cumulative Prometheus histogram summed over its label sets: counts of observations at or below each
/// finite upper bound, plus the total (the `+Inf` bucket).
public struct ServerHistogram: Sendable, Equatable, Codable {
    /// Finite upper bounds, ascending.
    public var bounds: [Double]
    /// Cumulative counts, one per bound.
    public var cumulative: [Double]
    public var count: Double
    public var sum: Double?

    public init(bounds: [Double], cumulative: [Double], count: Double, sum: Double? = nil) {
        self.bounds = bounds
        self.cumulative = cumulative
        self.count = count
        self.sum = sum
    }

    /// The observations made between `earlier` and this scrape, or nil when the buckets differ or a
    /// counter went back (the server restarted).
    public func since(_ earlier: ServerHistogram) -> ServerHistogram? {
        guard earlier.bounds == bounds, count >= earlier.count,
              zip(cumulative, earlier.cumulative).allSatisfy({ $0 >= $1 }) else { return nil }
        return ServerHistogram(
            bounds: bounds, cumulative: zip(cumulative, earlier.cumulative).map { $0 - $1 }, count: count - earlier.count,
            sum: sum.flatMap { s in earlier.sum.map { s - $0 } })
    }

    /// Client observations counted into the same buckets, so both sides carry the same resolution.
    public static func bucketing(_ values: [Double], bounds: [Double]) -> ServerHistogram {
        let sorted = values.sorted()
        var cumulative: [Double] = []
        var i = 0
        for bound in bounds {
            while i < sorted.count, sorted[i] <= bound { i += 1 }
            cumulative.append(Double(i))
        }
        return ServerHistogram(bounds: bounds, cumulative: cumulative, count: Double(sorted.count), sum: sorted.reduce(0, +))
    }

    /// The q-quantile by linear interpolation inside its bucket, as Prometheus' `histogram_quantile`
    /// computes it (the first bucket starts at 0; a quantile beyond the last finite bound is that bound).
    public func quantile(_ q: Double) -> Double? {
        guard let b = bucket(containing: q) else { return nil }
        guard b.upper.isFinite else { return bounds.last }
        return b.inside > 0 ? b.lower + (b.upper - b.lower) * (q * count - b.below) / b.inside : b.upper
    }

    /// The bucket holding the q-quantile: its edges, the observations below it and inside it. Beyond the
    /// last finite bound the upper edge is infinite.
    public func bucket(containing q: Double) -> (lower: Double, upper: Double, below: Double, inside: Double)? {
        guard count > 0, !bounds.isEmpty, q >= 0, q <= 1 else { return nil }
        let rank = q * count
        var lower = 0.0, below = 0.0
        for (bound, c) in zip(bounds, cumulative) {
            if c >= rank { return (lower, bound, below, c - below) }
            lower = bound
            below = c
        }
        return (lower, .infinity, below, count - below)
    }
}

/// One scrape of the server's `/metrics`, on the run's clock: the figures Metron understands under
/// common names whatever the server (vLLM, SGLang, TGI, llama.cpp), and every other series raw.
/// A failed scrape has only `t` and `error`.
public struct ServerMetricsSample: Sendable, Equatable, Codable {
    public var t: Double
    public var error: String?
    /// Which server's names were recognised: `vllm`, `sglang`, `tgi` or `llamacpp`.
    public var server: String?
    public var running: Double?
    public var waiting: Double?
    /// Fraction of the KV cache in use, 0 to 1.
    public var kvCacheUsage: Double?
    public var preemptionsTotal: Double?
    public var prefixCacheHitsTotal: Double?
    public var prefixCacheQueriesTotal: Double?
    /// A hit rate the server computes itself (SGLang), 0 to 1.
    public var cacheHitRate: Double?
    public var ttft: ServerHistogram?
    public var interTokenLatency: ServerHistogram?
    /// Every finite series not mapped above, by `name{labels}`.
    public var raw: [String: Double]?

    public init(t: Double, error: String) {
        self.t = t
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case t, error, server, running, waiting, raw, ttft
        case kvCacheUsage = "kv_cache_usage", preemptionsTotal = "preemptions_total"
        case prefixCacheHitsTotal = "prefix_cache_hits_total", prefixCacheQueriesTotal = "prefix_cache_queries_total"
        case cacheHitRate = "cache_hit_rate", interTokenLatency = "inter_token_latency"
    }

    /// Names each server uses for a common field, in order of preference.
    static let runningNames = ["vllm:num_requests_running", "sglang:num_running_reqs", "tgi_batch_current_size", "llamacpp:requests_processing"]
    static let waitingNames = ["vllm:num_requests_waiting", "sglang:num_queue_reqs", "tgi_queue_size", "llamacpp:requests_deferred"]
    static let kvCacheNames = ["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "sglang:token_usage", "llamacpp:kv_cache_usage_ratio"]
    static let preemptionNames = ["vllm:num_preemptions_total", "vllm:num_preemptions"]
    static let prefixHitNames = ["vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total", "vllm:prefix_cache_hits"]
    static let prefixQueryNames = ["vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total", "vllm:prefix_cache_queries"]
    static let hitRateNames = ["sglang:cache_hit_rate", "vllm:gpu_prefix_cache_hit_rate"]
    static let ttftNames = ["vllm:time_to_first_token_seconds", "sglang:time_to_first_token_seconds"]
    static let interTokenNames = [
        "vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds", "sglang:inter_token_latency_seconds",
        "sglang:time_per_output_token_seconds",
    ]

    /// Maps parsed exposition samples. Gauges and counters of one name are summed over their label sets
    /// (several engines behind one server), the KV-cache fraction takes the fullest.
    public init(t: Double, samples: [PrometheusSample]) {
        self.t = t
        var byName: [String: [PrometheusSample]] = [:]
        for s in samples { byName[s.name, default: []].append(s) }
        var used: Set<String> = []
        func first(_ names: [String], _ combine: ([Double]) -> Double = { $0.reduce(0, +) }) -> Double? {
            for name in names {
                let values = (byName[name] ?? []).map(\.value).filter(\.isFinite)
                if !values.isEmpty {
                    used.insert(name)
                    return combine(values)
                }
            }
            return nil
        }
        running = first(Self.runningNames)
        waiting = first(Self.waitingNames)
        kvCacheUsage = first(Self.kvCacheNames) { $0.max()! }
        preemptionsTotal = first(Self.preemptionNames)
        prefixCacheHitsTotal = first(Self.prefixHitNames)
        prefixCacheQueriesTotal = first(Self.prefixQueryNames)
        cacheHitRate = first(Self.hitRateNames) { $0.reduce(0, +) / Double($0.count) }
        func histogram(_ names: [String]) -> ServerHistogram? {
            for name in names {
                if let h = Self.histogram(name, byName) {
                    used.formUnion([name + "_bucket", name + "_count", name + "_sum"])
                    return h
                }
            }
            return nil
        }
        ttft = histogram(Self.ttftNames)
        interTokenLatency = histogram(Self.interTokenNames)
        let recognised = used.compactMap { name in ["vllm", "sglang", "llamacpp"].first { name.hasPrefix($0 + ":") } ?? (name.hasPrefix("tgi_") ? "tgi" : nil) }
        server = Dictionary(grouping: recognised, by: { $0 }).max { ($0.value.count, $1.key) < ($1.value.count, $0.key) }?.key
        var rest: [String: Double] = [:]
        for s in samples where !used.contains(s.name) && s.value.isFinite { rest[s.seriesKey] = s.value }
        raw = rest.isEmpty ? nil : rest
    }

    /// The histogram `name` summed over every label set but `le`; nil without finite buckets.
    static func histogram(_ name: String, _ byName: [String: [PrometheusSample]]) -> ServerHistogram? {
        var perBound: [Double: Double] = [:]
        var total: Double?
        for s in byName[name + "_bucket"] ?? [] {
            guard let le = s.label("le").flatMap(PrometheusText.number), !le.isNaN, s.value.isFinite else { continue }
            if le.isInfinite { total = (total ?? 0) + s.value } else { perBound[le, default: 0] += s.value }
        }
        guard !perBound.isEmpty else { return nil }
        let bounds = perBound.keys.sorted()
        let count = total ?? (byName[name + "_count"] ?? []).map(\.value).reduce(0, +)
        let sum = (byName[name + "_sum"] ?? []).map(\.value).filter(\.isFinite)
        return ServerHistogram(bounds: bounds, cumulative: bounds.map { perBound[$0]! }, count: count,
                               sum: sum.isEmpty ? nil : sum.reduce(0, +))
    }
}

/// What the server reported during a probe's measurement window, from the scrapes inside it (the last
/// scrape before the window anchors the counters).
public struct ServerView: Sendable, Equatable, Codable {
    public var scrapes: Int
    public var failedScrapes: Int
    public var peakKVCacheUsage: Double?
    public var peakWaiting: Double?
    public var peakRunning: Double?
    /// Preemptions counted during the window.
    public var preemptions: Double?
    /// Prefix-cache hits over queries during the window, or the server's own rate averaged.
    public var cacheHitRate: Double?
    /// The first error of a failed scrape, to say why figures are missing.
    public var firstError: String?

    enum CodingKeys: String, CodingKey {
        case scrapes, preemptions
        case failedScrapes = "failed_scrapes", peakKVCacheUsage = "peak_kv_cache_usage", peakWaiting = "peak_waiting"
        case peakRunning = "peak_running", cacheHitRate = "cache_hit_rate", firstError = "first_error"
    }

    /// nil when no scrape fell inside the window.
    public init?(samples: [ServerMetricsSample], windowStartS: Double, windowEndS: Double) {
        let inside = samples.filter { $0.t >= windowStartS && $0.t <= windowEndS }
        guard !inside.isEmpty else { return nil }
        let good = inside.filter { $0.error == nil }
        scrapes = inside.count
        failedScrapes = inside.count - good.count
        firstError = inside.first { $0.error != nil }?.error
        peakKVCacheUsage = good.compactMap(\.kvCacheUsage).max()
        peakWaiting = good.compactMap(\.waiting).max()
        peakRunning = good.compactMap(\.running).max()
        let anchor = samples.last { $0.t < windowStartS && $0.error == nil }
        let span = (anchor.map { [$0] } ?? []) + good
        func increase(_ counter: KeyPath<ServerMetricsSample, Double?>) -> Double? {
            let values = span.compactMap { $0[keyPath: counter] }
            guard values.count >= 2 else { return nil }
            // A counter that goes back was reset (a restart): count what accumulated after it.
            return zip(values.dropFirst(), values).reduce(0) { $0 + ($1.0 >= $1.1 ? $1.0 - $1.1 : $1.0) }
        }
        preemptions = increase(\.preemptionsTotal)
        if let hits = increase(\.prefixCacheHitsTotal), let queries = increase(\.prefixCacheQueriesTotal), queries > 0 {
            cacheHitRate = hits / queries
        } else {
            let rates = good.compactMap(\.cacheHitRate)
            cacheHitRate = rates.isEmpty ? nil : rates.reduce(0, +) / Double(rates.count)
        }
    }

    /// "server: KV cache 100 % full, 37 preemptions, up to 52 waiting", or why nothing is known.
    public var sentence: String {
        var parts: [String] = []
        // Adding 0 turns a negative zero into "0".
        if let kv = peakKVCacheUsage { parts.append(String(format: "KV cache %.0f %% full", kv * 100 + 0)) }
        if let p = preemptions { parts.append(String(format: "%.0f preemption%@", p + 0, p == 1 ? "" : "s")) }
        if let w = peakWaiting { parts.append(String(format: "up to %.0f waiting", w + 0)) }
        if let r = cacheHitRate { parts.append(String(format: "cache hit rate %.0f %%", r * 100 + 0)) }
        if parts.isEmpty {
            return failedScrapes == scrapes ? "server: no metrics (\(firstError ?? "every scrape failed"))"
                : "server: no recognised metrics"
        }
        if failedScrapes > 0 { parts.append("\(failedScrapes) of \(scrapes) scrapes failed") }
        return "server: " + parts.joined(separator: ", ")
    }
}

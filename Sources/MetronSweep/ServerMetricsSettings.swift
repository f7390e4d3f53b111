import Foundation
import MetronModel
import MetronSearch
import MetronLoad

extension ProbeWindow {
    /// How the server's `/metrics` is scraped during a probe against `target`, or nil when switched off.
    public func metricsScrape(for target: ServerTarget) -> MetricsScrapeOptions? {
        guard serverMetrics else { return nil }
        return MetricsScrapeOptions(url: serverMetricsURL ?? MetricsScrapeOptions.defaultURL(for: target))
    }
}

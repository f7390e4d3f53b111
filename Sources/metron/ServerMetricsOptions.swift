import ArgumentParser
import Foundation
import MetronModel
import MetronLoad
import MetronReport
import MetronSearch
import MetronSweep

/// `--no-server-metrics` and `--server-metrics-url`: whether and where the server's Prometheus
/// `/metrics` is read (once a second) during the load.
struct ServerMetricsOptions: ParsableArguments {
    @Flag(help: "Do not scrape the server's Prometheus /metrics during the load.")
    var noServerMetrics = false

    @Option(help: "Where to scrape the server's metrics (default: the server URL without /v1, plus /metrics).")
    var serverMetricsURL: String?

    func validate() throws {
        if let url = serverMetricsURL {
            guard let c = URLComponents(string: url), ["http", "https"].contains(c.scheme?.lowercased() ?? ""), c.host?.isEmpty == false
            else { throw ValidationError("--server-metrics-url must be an http:// or https:// URL with a host, got '\(url)'") }
        }
    }

    func scrape(for target: ServerTarget) -> MetricsScrapeOptions? {
        noServerMetrics ? nil : MetricsScrapeOptions(url: serverMetricsURL ?? MetricsScrapeOptions.defaultURL(for: target))
    }

    /// Applies the flags to a sweep's probe settings (the flags win over the file).
    func apply(to window: inout ProbeWindow) {
        if noServerMetrics { window.serverMetrics = false }
        if let serverMetricsURL { window.serverMetricsURL = serverMetricsURL }
    }
}

import Foundation
import MetronModel

/// `server_metrics.jsonl`: one scrape of the server's `/metrics` per line, on the run's clock; a failed
/// scrape is a line with `t` and `error`.
public enum ServerMetricsFile {
    public static let name = "server_metrics.jsonl"

    public static func encode(_ samples: [ServerMetricsSample]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = Data()
        for s in samples {
            data.append(try encoder.encode(s))
            data.append(0x0A)
        }
        return data
    }

    /// The samples of a file; a line that does not parse is skipped (the file is evidence, not input
    /// that must be whole), and a missing file is nil.
    public static func read(_ url: URL) -> [ServerMetricsSample]? {
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        let decoder = JSONDecoder()
        return data.split(separator: 0x0A).compactMap { try? decoder.decode(ServerMetricsSample.self, from: Data($0)) }
    }
}

/// A `summary.json` with the server's view of the window beside the client's figures.
public struct SummaryWithServerView: Encodable {
    public var summary: RunSummary
    public var server: ServerView?
    public var ttft: ServerTTFTComparison?

    public init(summary: RunSummary, server: ServerView?, ttft: ServerTTFTComparison? = nil) {
        self.summary = summary
        self.server = server
        self.ttft = ttft
    }

    enum CodingKeys: String, CodingKey { case server, ttft = "server_ttft_comparison" }

    public func encode(to encoder: any Encoder) throws {
        try summary.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(server, forKey: .server)
        try container.encodeIfPresent(ttft, forKey: .ttft)
    }
}

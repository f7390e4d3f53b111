import Foundation

/// The model's prefill times against published measurements.
public enum Calibration {
    public struct Row: Sendable, Equatable {
        public var promptTokens: Int
        public var measuredS: Double
        public var modelS: Double
        /// (model - measured) / measured.
        public var relativeError: Double { (modelS - measuredS) / measuredS }
    }

    /// Yi-34B on 2 x H100 prefill times read from the prefill-time figure of the Etalon/Metron paper
    /// (arXiv 2407.07000): about 0.6 s at 8K prompt tokens, 1.3 s at 16K, 4 s at 32K, 10.3 s at 64K.
    public static let yi34bOn2xH100: [(promptTokens: Int, seconds: Double)] = [
        (8192, 0.6), (16384, 1.3), (32768, 4.0), (65536, 10.3),
    ]

    /// The model's whole-prompt prefill time next to each measurement, with the standard constants.
    public static func yi34bPrefill(efficiency: EfficiencyConstants = .standard) throws -> [Row] {
        let cost = try CostModel(hardware: .h100, model: .yi34b, tensorParallel: 2, efficiency: efficiency)
        return yi34bOn2xH100.map {
            Row(promptTokens: $0.promptTokens, measuredS: $0.seconds, modelS: cost.prefillTime(promptTokens: $0.promptTokens))
        }
    }

    /// A plain-text table of `yi34bPrefill`, one row per prompt length.
    public static func table(_ rows: [Row]) -> String {
        var lines = ["prompt_tokens  paper_s  model_s  error"]
        for row in rows {
            let error = (row.relativeError * 100).rounded()
            lines.append(
                pad(String(row.promptTokens), 13) + "  " + pad(format(row.measuredS), 7) + "  "
                    + pad(format(row.modelS), 7) + "  " + (error >= 0 ? "+" : "") + String(Int(error)) + " %")
        }
        return lines.joined(separator: "\n")
    }

    /// Deployments worth a glance: each fits its GPUs with the standard constants.
    public static let sampleDeployments: [(hardware: HardwareProfile, model: ModelProfile, tensorParallel: Int)] = [
        (.a100, .llama3_8b, 1), (.h100, .llama3_8b, 1), (.h200, .llama3_8b, 1), (.l40s, .llama3_8b, 1),
        (.h100, .llama3_70b, 4), (.a100, .llama3_70b, 4), (.h100, .mixtral8x7b, 2), (.h100, .yi34b, 2),
        (.l40s, .yi34b, 4),
    ]

    /// A Markdown table of KV-cache capacity, prefill and decode times of `sampleDeployments`.
    public static func deploymentTable(efficiency: EfficiencyConstants = .standard) throws -> String {
        func ms(_ seconds: Double) -> String { String(format: "%.1f ms", seconds * 1000) }
        var lines = [
            "| deployment | KV cache tokens | prefill 1K | prefill 8K | decode, batch 1 (1K ctx) | decode, batch 64 (1K ctx) |",
            "|---|---|---|---|---|---|",
        ]
        for (h, m, tp) in sampleDeployments {
            let c = try CostModel(hardware: h, model: m, tensorParallel: tp, efficiency: efficiency)
            let cells = [
                "\(m.name) on \(tp) × \(h.name)", "\(c.kvCacheTokens)", ms(c.prefillTime(promptTokens: 1024)),
                ms(c.prefillTime(promptTokens: 8192)), ms(c.decodeTime(batch: 1, context: 1024)),
                ms(c.decodeTime(batch: 64, context: 1024)),
            ]
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n")
    }

    private static func format(_ x: Double) -> String {
        let hundredths = Int((x * 100).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100)." + (fraction < 10 ? "0" : "") + "\(fraction)"
    }

    private static func pad(_ s: String, _ width: Int) -> String {
        String(repeating: " ", count: max(0, width - s.count)) + s
    }
}

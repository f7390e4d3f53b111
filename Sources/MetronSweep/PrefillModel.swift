import Foundation
import MetronSearch
import MetronModel
import MetronReport
import MetronStats

/// One TTFT measured at low load for a prompt length.
public struct PrefillSample: Sendable, Equatable, Codable {
    public var promptTokens: Int
    public var ttftS: Double

    public init(promptTokens: Int, ttftS: Double) {
        self.promptTokens = promptTokens
        self.ttftS = ttftS
    }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens", ttftS = "ttft_s"
    }
}

/// The prompt lengths to profile, several requests each.
public struct PrefillLadder: Sendable, Equatable, Codable {
    public var lengths: [Int]
    public var requestsPerLength: Int

    /// 256, 512, ..., 16384, five requests each.
    public static let standard = PrefillLadder(lengths: (8...14).map { 1 << $0 }, requestsPerLength: 5)

    public init(lengths: [Int], requestsPerLength: Int) {
        self.lengths = lengths
        self.requestsPerLength = requestsPerLength
    }

    enum CodingKeys: String, CodingKey {
        case lengths
        case requestsPerLength = "requests_per_length"
    }
}

/// How well the model fits at one prompt length.
public struct PrefillResidual: Sendable, Equatable, Codable {
    public var promptTokens: Int
    public var samples: Int
    public var meanTTFTS: Double
    public var predictedS: Double
    /// Mean measured minus predicted.
    public var residualS: Double

    enum CodingKeys: String, CodingKey {
        case samples
        case promptTokens = "prompt_tokens", meanTTFTS = "mean_ttft_s", predictedS = "predicted_s", residualS = "residual_s"
    }
}

/// Prefill time as a least-squares polynomial of degree 2 in prompt tokens (GSL), which, unlike the
/// reference's random forest, extrapolates beyond the profiled lengths.
public struct PrefillModel: Sendable, Equatable, Codable {
    /// c0 + c1 P + c2 P^2, seconds.
    public var coefficients: [Double]
    public var rmsResidualS: Double
    public var maxAbsResidualS: Double
    public var rSquared: Double
    public var residuals: [PrefillResidual]
    /// Which system was profiled.
    public var system: String?
    public var warnings: [String]
    /// The system profiled and the ladder used: a saved model is reused only for both unchanged.
    public var systemIdentity: SystemIdentity?
    public var ladder: PrefillLadder?

    enum CodingKeys: String, CodingKey {
        case coefficients, residuals, system, warnings, ladder
        case systemIdentity = "system_identity"
        case rmsResidualS = "rms_residual_s", maxAbsResidualS = "max_abs_residual_s", rSquared = "r_squared"
    }

    public enum ModelError: Error, CustomStringConvertible, Equatable {
        case tooFewLengths(Int)
        case invalidSample(String)
        public var description: String {
            switch self {
            case let .tooFewLengths(n): return "the prefill model needs TTFTs at 3 or more prompt lengths, got \(n)"
            case let .invalidSample(why): return "invalid prefill sample: \(why)"
            }
        }
    }

    public var polynomial: PolynomialFit {
        PolynomialFit(coefficients: coefficients, rmsResidual: rmsResidualS, maxAbsResidual: maxAbsResidualS, rSquared: rSquared)
    }

    public func predict(promptTokens: Int) -> Double { polynomial(Double(promptTokens)) }

    /// `D_p(P) = prefill(P) + slack`.
    public func deadlinePolicy(slack: Double) -> FirstTokenDeadline { .prefillModel(polynomial, slack: slack) }

    /// The (prompt tokens, TTFT) pairs of successful records; prompt tokens as the server counted them.
    public static func samples(from records: [RequestRecord]) -> [PrefillSample] {
        records.filter(\.succeeded).compactMap { r in
            r.timeline.ttft.map { PrefillSample(promptTokens: r.promptTokens ?? r.requestedPromptTokens, ttftS: $0) }
        }
    }

    public static func fit(_ samples: [PrefillSample], system: String? = nil) throws -> PrefillModel {
        for s in samples {
            guard s.promptTokens >= 1 else { throw ModelError.invalidSample("prompt of \(s.promptTokens) tokens") }
            guard s.ttftS.isFinite, s.ttftS >= 0 else { throw ModelError.invalidSample("TTFT \(s.ttftS) s") }
        }
        let lengths = Set(samples.map(\.promptTokens))
        guard lengths.count >= 3 else { throw ModelError.tooFewLengths(lengths.count) }
        let fit = try PolynomialFit.fit(x: samples.map { Double($0.promptTokens) }, y: samples.map(\.ttftS), degree: 2)
        let residuals = lengths.sorted().map { p -> PrefillResidual in
            let ttfts = samples.filter { $0.promptTokens == p }.map(\.ttftS)
            let mean = ttfts.reduce(0, +) / Double(ttfts.count)
            let predicted = fit(Double(p))
            return PrefillResidual(promptTokens: p, samples: ttfts.count, meanTTFTS: mean, predictedS: predicted,
                                   residualS: mean - predicted)
        }
        var warnings: [String] = []
        let longest = Double(lengths.max()!)
        // A falling or negative curve within four times the longest prompt would hand out too-tight deadlines.
        let probe = stride(from: 0.0, through: 4 * longest, by: longest / 64).map { fit($0) }
        if zip(probe, probe.dropFirst()).contains(where: { $1 < $0 - 1e-12 }) {
            warnings.append("the fitted prefill time decreases somewhere below \(Int(4 * longest)) tokens: extrapolation is doubtful")
        }
        if probe.contains(where: { $0 < 0 }) {
            warnings.append("the fitted prefill time is negative somewhere below \(Int(4 * longest)) tokens (deadlines clamp it at 0)")
        }
        return PrefillModel(coefficients: fit.coefficients, rmsResidualS: fit.rmsResidual, maxAbsResidualS: fit.maxAbsResidual,
                            rSquared: fit.rSquared, residuals: residuals, system: system, warnings: warnings)
    }

    public static let fileName = "prefill_model.json"

    public func save(to url: URL) throws { try AtomicWrite.json(self, to: url) }

    public static func load(from url: URL) throws -> PrefillModel {
        let model = try JSON.decode(PrefillModel.self, from: url)
        guard model.coefficients.count == 3, model.coefficients.allSatisfy(\.isFinite) else {
            throw ResultFileError(path: url.path, message: "a prefill model needs three finite coefficients")
        }
        return model
    }

    /// The residual table for a terminal.
    public var report: String {
        let c = coefficients
        var text = String(format: "prefill(P) = %.4g + %.4g P + %.4g P^2 s   (RMS residual %.1f ms, max %.1f ms, R^2 %.4f)\n",
                          c[0], c[1], c[2], rmsResidualS * 1000, maxAbsResidualS * 1000, rSquared)
        text += TextTable.render(
            header: ["prompt tokens", "samples", "mean TTFT", "predicted", "residual"],
            rows: residuals.map {
                ["\($0.promptTokens)", "\($0.samples)", ms($0.meanTTFTS), ms($0.predictedS), ms($0.residualS)]
            })
        for w in warnings { text += "warning: \(w)\n" }
        return text
    }
}

extension PrefillModel {
    /// The model as `plots.json` draws it.
    var plotted: PlotData.Prefill {
        PlotData.Prefill(system: system, samples: residuals.map { [Double($0.promptTokens), $0.meanTTFTS] }, coefficients: coefficients)
    }
}

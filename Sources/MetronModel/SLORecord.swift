/// The SLO as written to results (`capacity.json`'s `slo`), and as the report reads it back.
public struct SLORecord: Sendable, Equatable, Codable {
    public var name: String
    public var type: String
    public var description: String
    public var attainmentLevel: Double
    public var maxErrorRate: Double
    public var ttftDeadline: String
    public var tbtDeadlineS: Double
    /// The tokens the fluidity-index counts; nil for every token (the default, and results written
    /// before the choice existed).
    public var fluidityTokens: FluidityTokens?

    public init(
        name: String, type: String, description: String, attainmentLevel: Double, maxErrorRate: Double,
        ttftDeadline: String, tbtDeadlineS: Double, fluidityTokens: FluidityTokens? = nil
    ) {
        self.name = name
        self.type = type
        self.description = description
        self.attainmentLevel = attainmentLevel
        self.maxErrorRate = maxErrorRate
        self.ttftDeadline = ttftDeadline
        self.tbtDeadlineS = tbtDeadlineS
        self.fluidityTokens = fluidityTokens
    }

    enum CodingKeys: String, CodingKey {
        case name, type, description
        case attainmentLevel = "attainment_level", maxErrorRate = "max_error_rate"
        case ttftDeadline = "ttft_deadline", tbtDeadlineS = "tbt_deadline_s", fluidityTokens = "fluidity_tokens"
    }
}

import Foundation
import MetronModel

/// Evaluates JSON lines in the format of the golden vectors: `"kind": "request"` lines give one
/// request's inter-token times and deadlines; `"kind": "service"` lines give several requests.
public enum FluidityLines {
    public struct LineError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Service-level deadlines when a service line names none (the golden vectors' convention).
    public static let defaultServiceTTFTDeadline = 0.3
    public static let defaultServiceTBTDeadline = 0.05

    /// The JSON object answering one input line, or a `LineError`.
    public static func evaluate(_ line: String) throws -> [String: Any] {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
        } catch {
            throw LineError(message: "not valid JSON")
        }
        guard let fields = object as? [String: Any] else { throw LineError(message: "expected a JSON object") }
        switch fields["kind"] as? String {
        case "request": return try request(fields)
        case "service": return try service(fields)
        case let other?: throw LineError(message: "unknown kind '\(other)', expected 'request' or 'service'")
        case nil: throw LineError(message: "missing string member 'kind' ('request' or 'service')")
        }
    }

    static func request(_ fields: [String: Any]) throws -> [String: Any] {
        let x = try times(fields["inter_token_times"], "inter_token_times")
        let dp = try number(fields, "ttft_deadline", min: 0)
        let dd = try number(fields, "tbt_deadline", min: 0, exclusive: true)
        let target = try number(fields, "target_deadline_miss_rate", min: 0, max: 1)
        let ignoreFirst = try flag(fields, "ignore_first_token")
        let count = Fluidity.deadlines(x, ttftDeadline: dp, tbtDeadline: dd, ignoreFirstToken: ignoreFirst)
        return [
            "deadline_miss_rate": count.missRate,
            "fluidity_index": count.fluidityIndex,
            "missed_deadlines": count.missed,
            "total_deadlines": count.total,
            "min_tbt_deadline_to_meet": Fluidity.minTBTDeadlineToMeet(
                x, target: target, ttftDeadline: dp, ignoreFirstToken: ignoreFirst),
        ]
    }

    static func service(_ fields: [String: Any]) throws -> [String: Any] {
        guard let list = fields["requests"] as? [Any] else {
            throw LineError(message: "missing member 'requests' (a list of inter-token time lists)")
        }
        let requests = try list.enumerated().map { try times($0.element, "requests[\($0.offset)]") }
        let dp = fields["ttft_deadline"] == nil ? defaultServiceTTFTDeadline : try number(fields, "ttft_deadline", min: 0)
        let dd = fields["tbt_deadline"] == nil
            ? defaultServiceTBTDeadline : try number(fields, "tbt_deadline", min: 0, exclusive: true)
        let rates = ServiceMetrics.tokenRates(tokenLevelTBTs: requests.map { Array($0.dropFirst()) })
        let count = ServiceMetrics.serviceDeadlines(
            requests, ttftDeadlines: Array(repeating: dp, count: requests.count), tbtDeadline: dd)
        return [
            "tpot_based_throughput": rates.tpotBased ?? NSNull(),
            "tbt_based_throughput": rates.tbtBased ?? NSNull(),
            "fluid_token_generation_rate": rates.fluidTokenGenerationRate ?? NSNull(),
            "service_deadline_miss_rate": count.missRate,
            "service_missed_deadlines": count.missed,
            "service_total_deadlines": count.total,
        ]
    }

    static func times(_ value: Any?, _ name: String) throws -> [Double] {
        guard let list = value as? [Any] else { throw LineError(message: "missing list member '\(name)'") }
        return try list.enumerated().map { i, v in
            guard let n = jsonNumber(v), n.doubleValue.isFinite, n.doubleValue >= 0 else {
                throw LineError(message: "\(name)[\(i)] must be a finite number of seconds >= 0")
            }
            return n.doubleValue
        }
    }

    static func number(
        _ fields: [String: Any], _ name: String, min: Double, max: Double = .infinity, exclusive: Bool = false
    ) throws -> Double {
        guard let n = jsonNumber(fields[name]) else {
            throw LineError(message: "missing number member '\(name)'")
        }
        let v = n.doubleValue
        let aboveMin = exclusive ? v > min : v >= min
        guard v.isFinite, aboveMin, v <= max else {
            let range = max.isFinite ? "in \(min)...\(max)" : (exclusive ? "> \(min)" : ">= \(min)")
            throw LineError(message: "'\(name)' must be \(range), got \(v)")
        }
        return v
    }

    static func flag(_ fields: [String: Any], _ name: String) throws -> Bool {
        guard let value = fields[name] else { return false }
        guard jsonNumber(value) == nil, let b = value as? Bool else { throw LineError(message: "'\(name)' must be true or false") }
        return b
    }

    /// A JSON number, not a JSON boolean (Foundation decodes both as NSNumber; booleans as a subclass).
    static func jsonNumber(_ value: Any?) -> NSNumber? {
        guard let n = value as? NSNumber, type(of: n) == NSNumber.self else { return nil }
        return n
    }

    /// Serialises one answer as a single JSON line with sorted keys.
    public static func jsonLine(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

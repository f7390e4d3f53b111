import Foundation
import MetronCore
import XCTest

/// Every vector computed with the paper's reference code must be reproduced.
final class GoldenVectorTests: XCTestCase {
    struct RequestCase: Decodable {
        var inter_token_times: [Double]
        var ttft_deadline: Double
        var tbt_deadline: Double
        var ignore_first_token: Bool
        var target_deadline_miss_rate: Double
        var expected: Expected
        struct Expected: Decodable {
            var deadline_miss_rate: Double
            var fluidity_index: Double
            var missed_deadlines: Double
            var total_deadlines: Double
            var min_tbt_deadline_to_meet: Double
        }
    }

    struct ServiceCase: Decodable {
        var requests: [[Double]]
        var ttft_deadline: Double
        var tbt_deadline: Double
        var expected: Expected
        struct Expected: Decodable {
            var tpot_based_throughput: Double
            var tbt_based_throughput: Double
            var fluid_token_generation_rate: Double
            var service_deadline_miss_rate: Double
            var service_missed_deadlines: Double
            var service_total_deadlines: Double
        }
    }

    struct Kind: Decodable { var kind: String }

    func loadLines() throws -> [Data] {
        let text = try String(contentsOf: SharedFiles.url("golden/fluidity_vectors.jsonl"), encoding: .utf8)
        return text.split(separator: "\n").map { Data($0.utf8) }
    }

    func testEveryGoldenVector() throws {
        let decoder = JSONDecoder()
        var requests = 0, services = 0
        for (i, line) in try loadLines().enumerated() {
            let kind = try decoder.decode(Kind.self, from: line).kind
            if kind == "request" {
                requests += 1
                let c = try decoder.decode(RequestCase.self, from: line)
                let got = Fluidity.deadlines(
                    c.inter_token_times, ttftDeadline: c.ttft_deadline, tbtDeadline: c.tbt_deadline,
                    ignoreFirstToken: c.ignore_first_token)
                XCTAssertEqual(got.missRate, c.expected.deadline_miss_rate, accuracy: 1e-9, "line \(i + 1)")
                XCTAssertEqual(got.fluidityIndex, c.expected.fluidity_index, accuracy: 1e-9, "line \(i + 1)")
                XCTAssertEqual(Double(got.missed), c.expected.missed_deadlines, "line \(i + 1)")
                XCTAssertEqual(Double(got.total), c.expected.total_deadlines, "line \(i + 1)")
                let minDeadline = Fluidity.minTBTDeadlineToMeet(
                    c.inter_token_times, target: c.target_deadline_miss_rate, ttftDeadline: c.ttft_deadline,
                    ignoreFirstToken: c.ignore_first_token)
                XCTAssertEqual(minDeadline, c.expected.min_tbt_deadline_to_meet, accuracy: 2e-4, "line \(i + 1)")
            } else {
                services += 1
                let c = try decoder.decode(ServiceCase.self, from: line)
                let rates = ServiceMetrics.tokenRates(tokenLevelTBTs: c.requests.map { Array($0.dropFirst()) })
                func close(_ got: Double?, _ want: Double, _ what: String) {
                    guard let got else { return XCTFail("line \(i + 1): \(what) missing") }
                    XCTAssertEqual(got, want, accuracy: 1e-9 * max(1, abs(want)), "line \(i + 1): \(what)")
                }
                close(rates.tpotBased, c.expected.tpot_based_throughput, "tpot based")
                close(rates.tbtBased, c.expected.tbt_based_throughput, "tbt based")
                close(rates.fluidTokenGenerationRate, c.expected.fluid_token_generation_rate, "fluid rate")
                let count = ServiceMetrics.serviceDeadlines(
                    c.requests, ttftDeadlines: Array(repeating: c.ttft_deadline, count: c.requests.count),
                    tbtDeadline: c.tbt_deadline)
                close(count.missRate, c.expected.service_deadline_miss_rate, "service miss rate")
                XCTAssertEqual(Double(count.missed), c.expected.service_missed_deadlines, "line \(i + 1)")
                XCTAssertEqual(Double(count.total), c.expected.service_total_deadlines, "line \(i + 1)")
            }
        }
        XCTAssertGreaterThan(requests, 0)
        XCTAssertGreaterThan(services, 0)
        XCTAssertEqual(requests + services, 440)
    }
}

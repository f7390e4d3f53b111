import Foundation
import MetronModel
import MetronTestSupport
import XCTest

/// Every vector computed with the paper's reference code must be reproduced (Tests/Fixtures/README.md).
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
            /// Only in the edge-case vectors: the reference's per-request TPOT.
            var request_tpots: [Double]?
            /// null where the reference gives infinity (a time of 0).
            var tpot_based_throughput: Double?
            var tbt_based_throughput: Double?
            var fluid_token_generation_rate: Double?
            var service_deadline_miss_rate: Double
            var service_missed_deadlines: Double
            var service_total_deadlines: Double
        }
    }

    struct Kind: Decodable { var kind: String }

    /// How closely each figure must agree with the reference.
    struct Agreement {
        var rate: Double
        var minDeadline: Double
        /// The reference's own tolerance: its bisection stops within 2e-4 s of the minimum.
        static let paperVectors = Agreement(rate: 1e-9, minDeadline: 2e-4)
        /// The same bisection as the reference's, so the same answer up to the last bits of a mean.
        static let edgeCases = Agreement(rate: 1e-12, minDeadline: 0)
    }

    /// Checks every line of a vector file; returns the number of request and service lines.
    func checkEveryVector(in fixture: String, agreement: Agreement) throws -> (requests: Int, services: Int) {
        let decoder = JSONDecoder()
        var requests = 0, services = 0
        for (i, text) in try Fixtures.lines(fixture).enumerated() {
            let line = Data(text.utf8), at = "\(fixture):\(i + 1)"
            if try decoder.decode(Kind.self, from: line).kind == "request" {
                requests += 1
                check(try decoder.decode(RequestCase.self, from: line), agreement, at)
            } else {
                services += 1
                check(try decoder.decode(ServiceCase.self, from: line), agreement, at)
            }
        }
        return (requests, services)
    }

    func check(_ c: RequestCase, _ agreement: Agreement, _ at: String) {
        let got = Fluidity.deadlines(
            c.inter_token_times, ttftDeadline: c.ttft_deadline, tbtDeadline: c.tbt_deadline,
            ignoreFirstToken: c.ignore_first_token)
        XCTAssertEqual(got.missRate, c.expected.deadline_miss_rate, accuracy: agreement.rate, at)
        XCTAssertEqual(got.fluidityIndex, c.expected.fluidity_index, accuracy: agreement.rate, at)
        XCTAssertEqual(Double(got.missed), c.expected.missed_deadlines, at)
        XCTAssertEqual(Double(got.total), c.expected.total_deadlines, at)
        let minDeadline = Fluidity.minTBTDeadlineToMeet(
            c.inter_token_times, target: c.target_deadline_miss_rate, ttftDeadline: c.ttft_deadline,
            ignoreFirstToken: c.ignore_first_token)
        XCTAssertEqual(minDeadline, c.expected.min_tbt_deadline_to_meet, accuracy: agreement.minDeadline, at)
    }

    func check(_ c: ServiceCase, _ agreement: Agreement, _ at: String) {
        let tbts = c.requests.map { Array($0.dropFirst()) }
        func close(_ got: Double?, _ want: Double?, _ what: String) {
            guard let want else { return XCTAssertNil(got, "\(at): \(what): the reference's rate is infinite") }
            guard let got else { return XCTFail("\(at): \(what) missing") }
            XCTAssertEqual(got, want, accuracy: agreement.rate * max(1, abs(want)), "\(at): \(what)")
        }
        if let tpots = c.expected.request_tpots {
            XCTAssertEqual(tpots.count, tbts.count, at)
            for (tbt, want) in zip(tbts, tpots) {
                close(ServiceMetrics.referenceTPOT(tokenLevelTBT: tbt[...]), want, "request TPOT")
            }
        }
        let rates = ServiceMetrics.tokenRates(tokenLevelTBTs: tbts)
        close(rates.tpotBased, c.expected.tpot_based_throughput, "tpot based")
        close(rates.tbtBased, c.expected.tbt_based_throughput, "tbt based")
        close(rates.fluidTokenGenerationRate, c.expected.fluid_token_generation_rate, "fluid rate")
        XCTAssertEqual(rates.requests, c.requests.count, at)
        XCTAssertEqual(rates.tokenGaps, tbts.joined().count, at)
        let count = ServiceMetrics.serviceDeadlines(
            c.requests, ttftDeadlines: Array(repeating: c.ttft_deadline, count: c.requests.count),
            tbtDeadline: c.tbt_deadline)
        close(count.missRate, c.expected.service_deadline_miss_rate, "service miss rate")
        XCTAssertEqual(Double(count.missed), c.expected.service_missed_deadlines, at)
        XCTAssertEqual(Double(count.total), c.expected.service_total_deadlines, at)
    }

    /// A successful record whose inter-token times are `x`: a gap of 0 joins the previous chunk.
    static func record(id: Int, interTokenTimes x: [Double]) -> RequestRecord {
        var times: [Double] = [], tokens: [Int] = []
        var t = 0.0
        for (i, gap) in x.enumerated() {
            t += gap
            if i > 0, gap == 0 { tokens[tokens.count - 1] += 1 } else { times.append(t); tokens.append(1) }
        }
        return RequestRecord(
            id: id, scheduledS: 0, sentS: 0, chunkTimesS: times, chunkTokens: tokens,
            requestedPromptTokens: 1, requestedOutputTokens: x.count, promptTokens: 1, outputTokens: x.count)
    }

    /// A run summary of the edge-case services' requests gives the reference's token rates and counts.
    func testRunSummaryOfEachEdgeCaseService() throws {
        let decoder = JSONDecoder()
        var services = 0
        for (i, text) in try Fixtures.lines("golden/edge_case_vectors.jsonl").enumerated() {
            let line = Data(text.utf8), at = "edge_case_vectors.jsonl:\(i + 1)"
            guard try decoder.decode(Kind.self, from: line).kind == "service" else { continue }
            services += 1
            let c = try decoder.decode(ServiceCase.self, from: line)
            let records = c.requests.enumerated().map { Self.record(id: $0.offset, interTokenTimes: $0.element) }
            let s = RunSummary(records: records, targetRate: nil, deadlines: FluidityDeadlines(ttft: .fixed(c.ttft_deadline), tbt: c.tbt_deadline))
            // Chunk times are sums of the gaps: the gaps come back within rounding, so rates agree closely.
            for (got, want, what) in [
                (s.tokenRates.tpotBased, c.expected.tpot_based_throughput, "tpot based"),
                (s.tokenRates.tbtBased, c.expected.tbt_based_throughput, "tbt based"),
                (s.tokenRates.fluidTokenGenerationRate, c.expected.fluid_token_generation_rate, "fluid rate"),
            ] {
                guard let want else { XCTAssertNil(got, "\(at): \(what)"); continue }
                XCTAssertEqual(try XCTUnwrap(got, "\(at): \(what)"), want, accuracy: 1e-9 * want, "\(at): \(what)")
            }
            XCTAssertEqual(s.fluidity.serviceDeadlines, DeadlineCount(
                missed: Int(c.expected.service_missed_deadlines), total: Int(c.expected.service_total_deadlines)), at)
            XCTAssertEqual(s.tokenRates.requests, c.requests.count, at)
        }
        XCTAssertEqual(services, 8)
    }

    func testEveryPaperVector() throws {
        let count = try checkEveryVector(in: "golden/fluidity_vectors.jsonl", agreement: .paperVectors)
        XCTAssertGreaterThan(count.requests, 0)
        XCTAssertGreaterThan(count.services, 0)
        XCTAssertEqual(count.requests + count.services, 440)
    }

    /// Zero-, one- and two-token requests and single chunks of many tokens (none in the paper's vectors).
    func testEveryEdgeCaseVector() throws {
        let count = try checkEveryVector(in: "golden/edge_case_vectors.jsonl", agreement: .edgeCases)
        XCTAssertEqual(count.requests, 18)
        XCTAssertEqual(count.services, 8)
    }
}

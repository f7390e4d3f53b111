import MetronModel
import XCTest

final class ServiceMetricsTests: XCTestCase {
    func testTokenRates() throws {
        // Two requests: TBTs of 10 ms and 30 ms. Mean TPOT 20 ms -> 50 tok/s.
        let tbts = [Array(repeating: 0.01, count: 10), Array(repeating: 0.03, count: 10)]
        let rates = ServiceMetrics.tokenRates(tokenLevelTBTs: tbts)
        XCTAssertEqual(try XCTUnwrap(rates.tpotBased), 50, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(rates.tbtBased), 1 / 0.03, accuracy: 1e-6)
        // Q_0.99 of per-request minimum deadlines (10 ms, 30 ms) is 29.8 ms.
        XCTAssertEqual(try XCTUnwrap(rates.fluidTokenGenerationRate), 1 / (0.01 + 0.99 * 0.02), accuracy: 0.5)
    }

    func testZeroTimesGiveNoRateRatherThanInfinity() {
        // Every token after the first arrives in one chunk: all TBTs are 0.
        let rates = ServiceMetrics.tokenRates(tokenLevelTBTs: [[0, 0, 0], [0, 0]])
        XCTAssertNil(rates.tpotBased)
        XCTAssertNil(rates.tbtBased)
    }

    func testNoRequestsGiveNoRates() {
        let rates = ServiceMetrics.tokenRates(tokenLevelTBTs: [])
        XCTAssertNil(rates.tpotBased)
        XCTAssertNil(rates.tbtBased)
        XCTAssertNil(rates.fluidTokenGenerationRate)
    }

    func testServiceMissRateSumsCountsNotRates() {
        let count = ServiceMetrics.serviceDeadlines(
            [[0.1, 0.2], [0.1, 0.01, 0.01, 0.01]], ttftDeadlines: [0.3, 0.3], tbtDeadline: 0.05)
        // First: 0.1 ok (slack 0.2), 0.2 <= 0.25 ok. Second: all on time.
        XCTAssertEqual(count, DeadlineCount(missed: 0, total: 6))
        let late = ServiceMetrics.serviceDeadlines([[1.0], [0.1, 0.01]], ttftDeadlines: [0.3, 0.3], tbtDeadline: 0.05)
        // 1 + floor(0.7 / 0.05) = 14 missed on the first request; the second is on time.
        XCTAssertEqual(late, DeadlineCount(missed: 14, total: 16))
        XCTAssertEqual(late.missRate, 14.0 / 16, accuracy: 1e-12)
    }

    func testMissRateVsTargetTBTCurveIsNonIncreasing() throws {
        let tbts: [[Double]] = (0..<20).map { (i: Int) -> [Double] in
            (0..<50).map { (j: Int) -> Double in 0.005 + Double((i * 7 + j * 13) % 40) / 1000 }
        }
        let curve = try ServiceMetrics.missRateVsTargetTBT(tokenLevelTBTs: tbts).map { try XCTUnwrap($0) }
        XCTAssertEqual(curve.count, 100)
        XCTAssertEqual(try XCTUnwrap(curve.last), 0, "every gap is under 100 ms")
        XCTAssertGreaterThan(try XCTUnwrap(curve.first), 0.5)
        for (a, b) in zip(curve, curve.dropFirst()) { XCTAssertGreaterThanOrEqual(a + 1e-12, b) }
    }
}

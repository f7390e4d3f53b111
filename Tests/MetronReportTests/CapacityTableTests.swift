import Foundation
import MetronReport
import XCTest

final class CapacityTableTests: XCTestCase {
    let a = SystemCapacity(system: "fast", maxQPS: 10, ciLow: 9, ciHigh: 11, outputTokensPerS: 2000, gpus: 2, usdPerHour: 7.2,
                           statisticalInterval: true)
    let b = SystemCapacity(system: "close", maxQPS: 8.5, ciLow: 7.5, ciHigh: 9.5, outputTokensPerS: 1700, gpus: 1, usdPerHour: 3.6,
                           statisticalInterval: true)
    let c = SystemCapacity(system: "slow", maxQPS: 4, ciLow: 3.5, ciHigh: 4.5, outputTokensPerS: 800, gpus: 1, usdPerHour: nil,
                           statisticalInterval: true)
    /// Nothing sustained: failed at 1 req/s, its lowest probe.
    let none = SystemCapacity(system: "down", maxQPS: nil, ciLow: nil, ciHigh: 1, outputTokensPerS: nil, gpus: 1, usdPerHour: 1,
                              statisticalInterval: true)
    /// The data do not bound it from above.
    let open = SystemCapacity(system: "open", maxQPS: 5, ciLow: 4, ciHigh: nil, outputTokensPerS: nil, gpus: 1, usdPerHour: nil,
                              statisticalInterval: true)

    /// A capacity whose interval is `q / spread ... q * spread`: symmetric on the log scale.
    static func logSymmetric(_ name: String, _ q: Double, spread: Double, confidence: Double = 0.95) -> SystemCapacity {
        SystemCapacity(system: name, maxQPS: q, ciLow: q / spread, ciHigh: q * spread, outputTokensPerS: nil, gpus: nil,
                       usdPerHour: nil, statisticalInterval: true, confidence: confidence)
    }

    func testCostFigures() {
        XCTAssertEqual(a.qpsPerGPU, 5)
        // 7.2 $/h over 2000 tok/s = 7.2 / 7.2e6 $ per token = 1 $ per million tokens.
        XCTAssertEqual(a.usdPerMillionOutputTokens ?? 0, 1, accuracy: 1e-12)
        XCTAssertNil(c.usdPerMillionOutputTokens)
    }

    func testCSVHasTheContractColumnsAndOneRowPerSystem() {
        let lines = CapacityTable.csv([a, c, none]).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines, [
            "system,max_qps,ci_low,ci_high,output_tokens_per_s,gpus,usd_per_hour,qps_per_gpu,usd_per_million_output_tokens,"
                + "ratio_to_next,ratio_ci_low,ratio_ci_high,higher_than_next,ratio_paired_plans",
            "fast,10,9,11,2000,2,7.2,5,1,2.5,2.10897,2.96354,true,",
            "slow,4,3.5,4.5,800,1,,4,,,,,,",
            "down,,,1,,1,1,,,,,,,",
        ])
    }

    func testCSVRatiosFollowEachTablesRankingWhateverTheRowOrder() {
        // Two tables interleaved, each listed lowest first: the ratio goes to the next one down its own ranking.
        let rows = [Self.logSymmetric("x/chat", 5, spread: 1.1), Self.logSymmetric("x/code", 3, spread: 1.3),
                    Self.logSymmetric("y/chat", 10, spread: 1.2), Self.logSymmetric("y/code", 3.3, spread: 1.3)]
        let lines = CapacityTable.csv(rows, tables: ["chat", "code", "chat", "code"]).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 5)
        XCTAssertTrue(lines[0].hasPrefix(CapacityTable.csvHeader.prefix(9).joined(separator: ",") + ","), "old columns first, in order")
        XCTAssertTrue(lines[1].hasSuffix(",,,,,"), "x/chat is last of its table: \(lines[1])")
        XCTAssertTrue(lines[2].hasSuffix(",,,,,"), "x/code is last of its table: \(lines[2])")
        XCTAssertTrue(lines[3].hasSuffix(",2,1.6281,2.45685,true,"), lines[3])
        // 3.3 / 3 = 1.1 with wide intervals: a ratio, an interval around 1, no difference.
        let code = lines[4].split(separator: ",", omittingEmptySubsequences: false).suffix(5).map(String.init)
        XCTAssertEqual(code.first, "1.1")
        XCTAssertEqual(code[3], "false")
        XCTAssertEqual(code.last, "", "from the intervals, not from shared plans")
        XCTAssertLessThan(Double(code[1]) ?? 9, 1)
        XCTAssertGreaterThan(Double(code[2]) ?? 0, 1)
        // One table for all rows without table names.
        XCTAssertTrue(CapacityTable.csv(rows).split(separator: "\n").map(String.init)[2].hasSuffix(",,,,,"), "x/code is last overall")
    }

    func testCSVLeavesTheRatioEmptyWithoutATest() {
        let lines = CapacityTable.csv([a, open]).split(separator: "\n").map(String.init)
        XCTAssertTrue(lines[1].hasSuffix(",2,,,,"), "a ratio but no interval and no claim: \(lines[1])")
        var bracket = c
        bracket.statisticalInterval = false
        var bracketHigh = b
        bracketHigh.statisticalInterval = false
        let brackets = CapacityTable.csv([bracketHigh, bracket]).split(separator: "\n").map(String.init)
        XCTAssertTrue(brackets[1].hasSuffix(",2.125,,,,"), "brackets apart make no statistical claim: \(brackets[1])")
    }

    func testCSVQuotesAwkwardNames() {
        var odd = a
        odd.system = "a,\"b\""
        XCTAssertTrue(CapacityTable.csv([odd]).contains("\"a,\"\"b\"\"\",10"))
    }

    func testLogStandardErrorComesFromTheIntervalsWiderHalf() throws {
        let z95 = 1.959963984540054, z90 = 1.6448536269514722
        XCTAssertEqual(try XCTUnwrap(Self.logSymmetric("s", 10, spread: 1.2).logStandardError), log(1.2) / z95, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(Self.logSymmetric("s", 10, spread: 1.2, confidence: 0.9).logStandardError),
                       log(1.2) / z90, accuracy: 1e-9, "the interval's own confidence sets z")
        // 9 .. 12 around 10: the upper half, ln 1.2, is wider than the lower, ln(10/9).
        var lopsided = a
        lopsided.ciHigh = 12
        XCTAssertEqual(try XCTUnwrap(lopsided.logStandardError), log(1.2) / z95, accuracy: 1e-9)
        XCTAssertNil(open.logStandardError, "unbounded above")
        XCTAssertNil(none.logStandardError, "no capacity")
        var bracket = a
        bracket.statisticalInterval = false
        XCTAssertNil(bracket.logStandardError, "a bracket between probes is not a statistical interval")
        var zero = a
        zero.ciLow = 0
        XCTAssertNil(zero.logStandardError, "ln 0")
        var outside = a
        outside.ciLow = 10.5
        XCTAssertNil(outside.logStandardError, "an interval that misses its estimate")
        var badLevel = a
        badLevel.confidence = 1
        XCTAssertNil(badLevel.logStandardError)
    }

    func testRatioAndItsIntervalOnKnownNumbers() throws {
        // ln-scale standard errors ln 1.2 / z and ln 1.1 / z: z cancels at equal confidence, so the
        // interval is 2 exp(+/- sqrt(ln^2 1.2 + ln^2 1.1)).
        let ratio = CapacityRatio(Self.logSymmetric("p", 10, spread: 1.2), over: Self.logSymmetric("q", 5, spread: 1.1))
        XCTAssertEqual(try XCTUnwrap(ratio.ratio), 2, accuracy: 1e-12)
        let half = (log(1.2) * log(1.2) + log(1.1) * log(1.1)).squareRoot()
        XCTAssertEqual(try XCTUnwrap(ratio.ciLow), 2 * exp(-half), accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(ratio.ciHigh), 2 * exp(half), accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(ratio.ciLow), 1.628104, accuracy: 1e-6)
        XCTAssertEqual(ratio.higher, true, "a clear 2x difference with narrow intervals")
        XCTAssertNil(ratio.noTest)
        XCTAssertEqual(CapacityTable.comparison(Self.logSymmetric("p", 10, spread: 1.2), Self.logSymmetric("q", 5, spread: 1.1)),
                       "2.00x next [1.63, 2.46]: higher than q")
        // A lower confidence for the ratio narrows its interval.
        let at80 = CapacityRatio(Self.logSymmetric("p", 10, spread: 1.2), over: Self.logSymmetric("q", 5, spread: 1.1), confidence: 0.8)
        XCTAssertLessThan(try XCTUnwrap(at80.ciHigh), try XCTUnwrap(ratio.ciHigh))
    }

    func testEqualCapacitiesAreNeverHigher() {
        for spread in [1.01, 1.1, 2] {
            let ratio = CapacityRatio(Self.logSymmetric("p", 5, spread: spread), over: Self.logSymmetric("q", 5, spread: spread))
            XCTAssertEqual(ratio.ratio, 1)
            XCTAssertEqual(ratio.higher, false, "spread \(spread)")
            XCTAssertLessThan(ratio.ciLow ?? 2, 1)
            XCTAssertGreaterThan(ratio.ciHigh ?? 0, 1)
        }
        XCTAssertEqual(CapacityTable.comparison(Self.logSymmetric("p", 5, spread: 1.1), Self.logSymmetric("q", 5, spread: 1.1)),
                       "1.00x next [0.87, 1.14]: not distinguishable from q")
        // Intervals apart, yet the ratio's interval still reaches 1: the ratio test is the stricter one.
        XCTAssertFalse(CapacityRatio(a, over: b).higher ?? true, "10 vs 8.5: ratio interval from 0.999")
    }

    func testNoClaimWithoutAStatisticalIntervalOnBothSides() {
        func claim(_ r: SystemCapacity, _ n: SystemCapacity) -> CapacityRatio { CapacityRatio(r, over: n) }
        // Unbounded above or below, missing capacity, a zero lower end, a bracket: no interval, no claim.
        XCTAssertNil(claim(a, open).higher)
        XCTAssertEqual(claim(a, open).noTest, "open's interval is unbounded above")
        XCTAssertEqual(claim(a, open).ratio, 2, "the ratio itself is still known")
        XCTAssertNil(claim(a, open).ciLow)
        XCTAssertNil(claim(open, c).higher, "the higher side unbounded")
        var noLow = c
        noLow.ciLow = nil
        XCTAssertEqual(claim(a, noLow).noTest, "slow's interval is unbounded below")
        XCTAssertNil(claim(c, none).higher)
        XCTAssertNil(claim(c, none).ratio)
        XCTAssertEqual(claim(c, none).noTest, "down has no capacity")
        var unsettled = none
        unsettled.undetermined = "the interval reaches 0 req/s"
        unsettled.ciLow = 4
        unsettled.ciHigh = 5
        XCTAssertEqual(claim(c, unsettled).noTest, "down's capacity is not determined")
        XCTAssertEqual(unsettled.intervalText, "not determined (4.00 .. 5.00)")
        unsettled.ciLow = nil
        XCTAssertEqual(unsettled.intervalText, "not determined (at most 5.00)")
        unsettled.ciHigh = nil
        XCTAssertEqual(unsettled.intervalText, "not determined (no bound)")
        unsettled.ciLow = 4
        XCTAssertEqual(unsettled.intervalText, "not determined (at least 4.00)")
        var zero = c
        zero.ciLow = 0
        XCTAssertEqual(claim(a, zero).noTest, "slow's interval reaches 0")
        XCTAssertNil(claim(a, zero).higher)
        var bracket = c
        bracket.statisticalInterval = false
        XCTAssertNil(claim(a, bracket).higher)
        XCTAssertFalse(claim(a, bracket).bracketsApart, "one statistical interval and one bracket: no comparison at all")
        XCTAssertEqual(claim(a, bracket).noTest, "slow's interval is a bracket between probes, not a statistical interval")
        var zeroQ = c
        zeroQ.maxQPS = 0
        XCTAssertNil(claim(a, zeroQ).ratio)
        XCTAssertEqual(CapacityTable.comparison(a, open), "2.00x next: no claim against open (open's interval is unbounded above)")
        XCTAssertEqual(CapacityTable.comparison(c, none), "no ratio: no claim against down (down has no capacity)")
        XCTAssertEqual(CapacityTable.comparison(none, c), "", "a system without a capacity is compared with nothing")
    }

    func testDisjointBracketsAreHigherButNotStatistically() {
        var high = b, low = c
        high.statisticalInterval = false
        low.statisticalInterval = false
        let ratio = CapacityRatio(high, over: low)
        XCTAssertTrue(ratio.bracketsApart)
        XCTAssertNil(ratio.higher)
        XCTAssertNil(ratio.ciLow)
        XCTAssertEqual(CapacityTable.comparison(high, low), "2.12x next: higher than slow (brackets apart, not a statistical test)")
        // Overlapping brackets: nothing.
        var near = low
        near.ciHigh = 8
        XCTAssertFalse(CapacityRatio(high, over: near).bracketsApart)
        XCTAssertTrue(CapacityTable.comparison(high, near).hasPrefix("2.12x next: no claim against slow"))
    }

    func testIntervalText() {
        XCTAssertEqual(open.intervalText, "4.00 .. unbounded")
        XCTAssertEqual(none.intervalText, "below 1.00")
    }

    func testRankingOrdersAndSaysWhatIsSignificant() {
        let text = CapacityTable.ranking([c, none, b, a])
        let rows = text.split(separator: "\n").map(String.init)
        guard rows.count >= 6 else { return XCTFail("expected a header, a rule and four rows:\n\(text)") }
        XCTAssertTrue(rows[2].hasPrefix("1  fast"))
        XCTAssertTrue(rows[2].hasSuffix("1.18x next [1.00, 1.39]: not distinguishable from close"), rows[2])
        XCTAssertTrue(rows[3].contains("2.12x next [1.77, 2.55]: higher than slow"), rows[3])
        XCTAssertTrue(rows[4].contains("no ratio: no claim against down (down has no capacity)"), rows[4])
        XCTAssertTrue(rows[5].hasPrefix("4  down"))
        XCTAssertTrue(rows[5].contains("none"))
    }

    func testAtomicWriteLeavesNoTemporaryFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("metron-report-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("capacity.csv")
        try CapacityTable.writeCSV([a], to: url)
        try CapacityTable.writeCSV([a, b], to: url)
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), CapacityTable.csv([a, b]))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["capacity.csv"])
    }

    func testAtomicDirectoryReplacesAndCleansUpOnFailure() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("metron-report-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("rate-1.000")
        try AtomicWrite.directory(at: target) { try Data("one".utf8).write(to: $0.appendingPathComponent("a")) }
        struct Boom: Error {}
        XCTAssertThrowsError(try AtomicWrite.directory(at: target) { tmp in
            try Data("two".utf8).write(to: tmp.appendingPathComponent("a"))
            throw Boom()
        })
        XCTAssertEqual(try String(contentsOf: target.appendingPathComponent("a"), encoding: .utf8), "one")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["rate-1.000"])
    }
}

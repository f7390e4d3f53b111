import Foundation
import MetronReport
import XCTest

final class CapacityTableTests: XCTestCase {
    let a = SystemCapacity(system: "fast", maxQPS: 10, ciLow: 9, ciHigh: 11, outputTokensPerS: 2000, gpus: 2, usdPerHour: 7.2)
    let b = SystemCapacity(system: "close", maxQPS: 8.5, ciLow: 7.5, ciHigh: 9.5, outputTokensPerS: 1700, gpus: 1, usdPerHour: 3.6)
    let c = SystemCapacity(system: "slow", maxQPS: 4, ciLow: 3.5, ciHigh: 4.5, outputTokensPerS: 800, gpus: 1, usdPerHour: nil)
    /// Nothing sustained: failed at 1 req/s, its lowest probe.
    let none = SystemCapacity(system: "down", maxQPS: nil, ciLow: nil, ciHigh: 1, outputTokensPerS: nil, gpus: 1, usdPerHour: 1)
    /// The data do not bound it from above.
    let open = SystemCapacity(system: "open", maxQPS: 5, ciLow: 4, ciHigh: nil, outputTokensPerS: nil, gpus: 1, usdPerHour: nil)

    func testCostFigures() {
        XCTAssertEqual(a.qpsPerGPU, 5)
        // 7.2 $/h over 2000 tok/s = 7.2 / 7.2e6 $ per token = 1 $ per million tokens.
        XCTAssertEqual(a.usdPerMillionOutputTokens ?? 0, 1, accuracy: 1e-12)
        XCTAssertNil(c.usdPerMillionOutputTokens)
    }

    func testCSVHasTheContractColumnsAndOneRowPerSystem() {
        let lines = CapacityTable.csv([a, c, none]).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines, [
            "system,max_qps,ci_low,ci_high,output_tokens_per_s,gpus,usd_per_hour,qps_per_gpu,usd_per_million_output_tokens",
            "fast,10,9,11,2000,2,7.2,5,1",
            "slow,4,3.5,4.5,800,1,,4,",
            "down,,,1,,1,1,,",
        ])
    }

    func testCSVQuotesAwkwardNames() {
        var odd = a
        odd.system = "a,\"b\""
        XCTAssertTrue(CapacityTable.csv([odd]).contains("\"a,\"\"b\"\"\",10"))
    }

    func testSignificanceNeedsSeparatedIntervals() {
        XCTAssertFalse(a.significantlyAbove(b), "9..11 overlaps 7.5..9.5")
        XCTAssertTrue(b.significantlyAbove(c))
        XCTAssertTrue(c.significantlyAbove(none))
        XCTAssertFalse(none.significantlyAbove(c))
        // An unbounded side supports no claim: its estimate is no bound.
        XCTAssertFalse(a.significantlyAbove(open), "open's interval may reach past 9")
        XCTAssertTrue(open.significantlyAbove(none), "4 and up lies above 'below 1'")
        XCTAssertEqual(open.intervalText, "4.00 .. unbounded")
        XCTAssertEqual(none.intervalText, "below 1.00")
        let text = CapacityTable.ranking([a, open])
        XCTAssertTrue(text.contains("not distinguishable from open (an interval is unbounded)"), text)
    }

    func testRankingOrdersAndSaysWhatIsSignificant() {
        let text = CapacityTable.ranking([c, none, b, a])
        let rows = text.split(separator: "\n").map(String.init)
        guard rows.count >= 6 else { return XCTFail("expected a header, a rule and four rows:\n\(text)") }
        XCTAssertTrue(rows[2].hasPrefix("1  fast"))
        XCTAssertTrue(rows[2].contains("not distinguishable from close (intervals overlap)"))
        XCTAssertTrue(rows[3].contains("higher than slow (intervals apart)"))
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

import Foundation
import MetronModel
import MetronSearch
import MetronSweep
import MetronStats
import XCTest

final class PrefillModelTests: XCTestCase {
    // A quadratic prefill: 20 ms + 50 us per token + 2e-9 s per token^2.
    func truth(_ p: Int) -> Double { 0.02 + 5e-5 * Double(p) + 2e-9 * Double(p) * Double(p) }

    func samples(noise: Double, seed: UInt64 = 1) -> [PrefillSample] {
        let rng = RandomSource(seed: seed)
        let ladder = PrefillLadder.standard
        return ladder.lengths.flatMap { p in
            (0..<ladder.requestsPerLength).map { _ in PrefillSample(promptTokens: p, ttftS: truth(p) + rng.gaussian(sigma: noise)) }
        }
    }

    func testStandardLadder() {
        XCTAssertEqual(PrefillLadder.standard.lengths, [256, 512, 1024, 2048, 4096, 8192, 16384])
    }

    func testRecoversTheQuadraticAndExtrapolates() throws {
        let model = try PrefillModel.fit(samples(noise: 0.002), system: "a")
        XCTAssertEqual(model.residuals.count, 7)
        XCTAssertEqual(model.residuals.first?.samples, 5)
        XCTAssertLessThan(model.rmsResidualS, 0.004)
        // Beyond the ladder, unlike a forest, the prediction keeps growing like the truth.
        XCTAssertEqual(model.predict(promptTokens: 32768), truth(32768), accuracy: 0.02 * truth(32768))
        XCTAssertGreaterThan(model.predict(promptTokens: 100_000), model.predict(promptTokens: 20_000))
        XCTAssertTrue(model.warnings.isEmpty)
        XCTAssertTrue(model.report.contains("16384"))
    }

    func testDeadlinePolicyAddsTheSlack() throws {
        let model = try PrefillModel.fit(samples(noise: 0))
        let policy = model.deadlinePolicy(slack: 0.3)
        XCTAssertEqual(policy.deadline(promptTokens: 4096), truth(4096) + 0.3, accuracy: 1e-6)
    }

    func testSamplesComeFromSuccessfulRecordsWithServerCounts() {
        let ok = RequestRecord(id: 0, scheduledS: 1, sentS: 1, chunkTimesS: [1.25], chunkTokens: [1],
                               requestedPromptTokens: 512, promptTokens: 509)
        let failed = RequestRecord(id: 1, scheduledS: 2, requestedPromptTokens: 512, status: .timeout)
        XCTAssertEqual(PrefillModel.samples(from: [ok, failed]), [PrefillSample(promptTokens: 509, ttftS: 0.25)])
    }

    func testSaveAndLoad() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("prefill-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: url) }
        let model = try PrefillModel.fit(samples(noise: 0.001))
        try model.save(to: url)
        XCTAssertEqual(try PrefillModel.load(from: url), model)
        try Data("{\"coefficients\": [1]}".utf8).write(to: url)
        XCTAssertThrowsError(try PrefillModel.load(from: url)) { XCTAssertTrue("\($0)".contains(url.path)) }
    }

    func testTooFewLengths() {
        let two = [PrefillSample(promptTokens: 256, ttftS: 0.1), PrefillSample(promptTokens: 512, ttftS: 0.2),
                   PrefillSample(promptTokens: 512, ttftS: 0.21)]
        XCTAssertThrowsError(try PrefillModel.fit(two)) { XCTAssertEqual($0 as? PrefillModel.ModelError, .tooFewLengths(2)) }
    }

    func testWarnsWhenTheCurveBendsDown() throws {
        let bent = [256, 4096, 8192, 16384].map { PrefillSample(promptTokens: $0, ttftS: 0.01 + 1e-4 * Double($0) - 5e-9 * Double($0 * $0)) }
        XCTAssertFalse(try PrefillModel.fit(bent).warnings.isEmpty)
    }
}

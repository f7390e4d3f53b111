import MetronModel
import MetronStats
import XCTest

final class DeadlinePolicyTests: XCTestCase {
    func testPrefillModelDeadlineAddsSlackToPrediction() {
        let fit = PolynomialFit(coefficients: [0.01, 1e-5, 1e-9])
        let policy = FirstTokenDeadline.prefillModel(fit, slack: 0.3)
        XCTAssertEqual(policy.deadline(promptTokens: 1000), 0.01 + 0.01 + 0.001 + 0.3, accuracy: 1e-12)
    }

    func testPrefillModelNeverPredictsNegativeTime() {
        let policy = FirstTokenDeadline.prefillModel(PolynomialFit(coefficients: [-1]), slack: 0.2)
        XCTAssertEqual(policy.deadline(promptTokens: 10), 0.2)
    }
}

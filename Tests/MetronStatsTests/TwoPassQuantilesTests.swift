import MetronStats
import XCTest

final class TwoPassQuantilesTests: XCTestCase {
    func exact(_ sample: [Double], _ qs: [Double]) -> [Double?] {
        var t = TwoPassQuantiles(quantiles: qs)
        sample.forEach { t.addFirstPass($0) }
        t.beginSecondPass()
        sample.forEach { t.addSecondPass($0) }
        return t.results()
    }

    func testEqualsInMemoryQuantilesOnVariedSamples() {
        let rng = RandomSource(seed: 11)
        let qs = [0, 0.01, 0.5, 0.9, 0.99, 1]
        let samples: [[Double]] = [
            [], [3], [2, 1],
            (0..<10_000).map { _ in rng.exponential(rate: 40) },
            (0..<5_000).map { _ in Double(rng.integer(in: 0...3)) * 0.025 },  // heavy ties and zeros
            (0..<2_000).map { _ in rng.gaussian(sigma: 1) },  // negatives
            (0..<3_000).map { i in i % 2 == 0 ? 0 : 1e-9 * Double(i) },
            (0..<3_000).map { i in [0.0, -0.0, -1e-3 * Double(i), 1e9][i % 4] },  // both zeros, and outside the dense range
        ]
        for sample in samples {
            let got = exact(sample, qs)
            for (q, g) in zip(qs, got) {
                let want = Stats.quantile(sample, q)
                XCTAssertEqual(g, want, "n=\(sample.count) q=\(q)")
            }
        }
    }
}

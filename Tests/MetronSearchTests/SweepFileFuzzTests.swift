import Foundation
import MetronModel
import MetronSearch
import MetronSweep
import MetronStats
import XCTest

/// Seeded mutations of a valid sweep file: the parser must either accept the file or report problems
/// with a location, never crash or throw anything else.
final class SweepFileFuzzTests: XCTestCase {
    let seedFile = """
        name: fuzz
        systems:
          - name: a
            simulator: {hardware: a100, model: llama-3-8b, scheduler: vllm, tp: 1, max_batch_size: 3}
            gpus: 1
            usd_per_hour: 2.5
          - name: b
            url: http://127.0.0.1:8000/v1
            api_key_env: KEY
        workloads:
          - name: w
            arrival: {process: gamma, cv: 1.5}
            prompt_tokens: {distribution: zipf, min: 10, max: 100, theta: 1.1}
            output_tokens: 20
        slos:
          - name: s
            percentile: 99
            prefill_model: reference
            reference_system: a
          - name: t
            type: ttft_tpot
            ttft: {percentile: 90, limit_s: 1}
            tpot: {percentile: 90, limit_s: 0.05}
            prefill_model: fixed
            ttft_deadline_s: 1
        search: {strategy: fitted, start_rate: 1, probe_budget: 8}
        probe: {duration_s: 30}
        prefill: {lengths: [1, 2, 3]}
        """

    let tokens = ["-", ":", "{", "}", "[", "]", "\"", "'", "&a", "*a", "!!int", "~", "null", "-1", "0", "1e400", ".nan",
                  "true", "\n", "  ", "\t", "#", "|", ">", "? ", "%", "@", "\u{0}", "é", "name", "systems"]

    func mutate(_ text: String, _ rng: RandomSource) -> String {
        var chars = Array(text)
        for _ in 0..<rng.integer(in: 1...4) {
            guard !chars.isEmpty else { break }
            let i = rng.integer(in: 0...(chars.count - 1))
            switch rng.integer(in: 0...3) {
            case 0: chars.remove(at: i)
            case 1: chars.insert(contentsOf: tokens[rng.integer(in: 0...(tokens.count - 1))], at: i)
            case 2:
                let j = min(chars.count, i + rng.integer(in: 1...40))
                chars.removeSubrange(i..<j)
            default:
                let j = rng.integer(in: 0...(chars.count - 1))
                chars.swapAt(i, j)
            }
        }
        return String(chars)
    }

    func testMutatedFilesNeverCrashAndAlwaysSayWhere() {
        let rng = RandomSource(seed: 20261124)
        let lineCount = seedFile.split(separator: "\n", omittingEmptySubsequences: false).count
        var accepted = 0, rejected = 0
        for _ in 0..<1500 {
            let text = mutate(seedFile, rng)
            do {
                _ = try SweepFile.parse(text, file: "fuzz.yaml", baseDirectory: URL(fileURLWithPath: "/nonexistent"), environment: ["KEY": "x"])
                accepted += 1
            } catch let error as InputFileError {
                rejected += 1
                XCTAssertFalse(error.problems.isEmpty)
                for p in error.problems {
                    XCTAssertTrue((1...(lineCount + 40)).contains(p.line), "\(p)")
                    XCTAssertGreaterThanOrEqual(p.column, 1)
                    XCTAssertFalse(p.message.isEmpty)
                }
            } catch {
                XCTFail("unexpected error type for input:\n\(text)\n\(error)")
            }
        }
        XCTAssertGreaterThan(rejected, 100)
        XCTAssertGreaterThan(accepted, 10)
    }

    func testRandomBytesAreRejectedCleanly() {
        let rng = RandomSource(seed: 7)
        for _ in 0..<300 {
            let bytes = (0..<rng.integer(in: 0...200)).map { _ in UInt8(rng.integer(in: 0...255)) }
            let text = String(decoding: bytes, as: UTF8.self)
            XCTAssertThrowsError(try SweepFile.parse(text, file: "x.yaml", baseDirectory: URL(fileURLWithPath: "/")))
        }
    }
}

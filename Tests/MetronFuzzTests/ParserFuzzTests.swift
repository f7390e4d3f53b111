import Foundation
import MetronModel
@testable import MetronReport
import MetronTestSupport
import XCTest

/// Seeded fuzzing of every reader of our own formats: no crash, a clean error every time.
final class ParserFuzzTests: XCTestCase {
    func testTraceReader() {
        let mutator = Mutator(seed: 101)
        let valid = Array("num_prefill_tokens,num_decode_tokens,num_total_tokens,pd_ratio\n3772,54,3826,69.8\n2015,156,2171,12.9\n".utf8)
        var accepted = 0, rejected = 0
        for i in 0..<Mutator.iterations {
            let input = i % 5 == 0 ? mutator.noise(maxLength: 200) : mutator.mutate(valid)
            do {
                let rows = try TraceFile.parse(String(decoding: input, as: UTF8.self), source: "fuzz.csv")
                XCTAssertFalse(rows.isEmpty)
                XCTAssertTrue(rows.allSatisfy { $0.promptTokens >= 1 && $0.outputTokens >= 1 })
                accepted += 1
            } catch let error as InputErrors {
                XCTAssertFalse(error.messages.isEmpty)
                XCTAssertTrue(error.messages.allSatisfy { $0.hasPrefix("fuzz.csv:") }, "\(error)")
                rejected += 1
            } catch {
                XCTFail("unexpected error type: \(error)")
            }
        }
        XCTAssertGreaterThan(accepted, 0)
        XCTAssertGreaterThan(rejected, 0)
    }

    /// The fast record parser must never accept a line that JSONDecoder reads differently.
    func testRecordLinesAgainstJSONDecoder() throws {
        let mutator = Mutator(seed: 202)
        let record = RequestRecord(
            id: 7, scheduledS: 1.5, sentS: 1.5001, chunkTimesS: [1.9, 1.93, 2.01], chunkTokens: [1, 2, 1],
            requestedPromptTokens: 64, requestedOutputTokens: 4, promptTokens: 61, outputTokens: 4, httpStatus: 200)
        let valid = Array(try JSONEncoder().encode(record))
        var fast = 0
        for _ in 0..<Mutator.iterations {
            let line = mutator.mutate(valid).filter { $0 != UInt8(ascii: "\n") }
            let parsed = (line + [UInt8(ascii: "\n")]).withUnsafeBytes {
                RecordLineParser.parse(UnsafeRawBufferPointer(rebasing: $0.dropLast()))
            }
            let decoded = try? JSONDecoder().decode(RequestRecord.self, from: Data(line))
            if let parsed {
                fast += 1
                XCTAssertEqual(parsed, decoded, "fast parser accepted: \(String(decoding: line, as: UTF8.self))")
            }
        }
        XCTAssertGreaterThan(fast, 0)
    }

    func testRecordsFile() throws {
        let mutator = Mutator(seed: 303)
        let records = (0..<3).map {
            RequestRecord(id: $0, scheduledS: Double($0), sentS: Double($0), chunkTimesS: [Double($0) + 0.5], chunkTokens: [1])
        }
        let valid = Array(try RecordsFile.encode(records))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("metron-fuzz-\(UUID()).jsonl")
        defer { try? FileManager.default.removeItem(at: url) }
        for _ in 0..<Mutator.iterations / 4 {
            try Data(mutator.mutate(valid)).write(to: url)
            do {
                _ = try RecordsFile.read(url)
            } catch let error as RecordsFile.ReadError {
                XCTAssertTrue(error.description.hasPrefix(url.path + ":"), error.description)
            }
        }
    }

    func testFluidityLines() {
        let mutator = Mutator(seed: 404)
        let valid = Array(#"{"kind": "request", "inter_token_times": [0.5, 0.05, 0.05], "ttft_deadline": 0.3, "tbt_deadline": 0.05, "ignore_first_token": false, "target_deadline_miss_rate": 0.1}"#.utf8)
        for _ in 0..<Mutator.iterations {
            let line = String(decoding: mutator.mutate(valid), as: UTF8.self)
            do {
                let answer = try FluidityLines.evaluate(line)
                XCTAssertFalse(answer.isEmpty)
            } catch let error as FluidityLines.LineError {
                XCTAssertFalse(error.message.isEmpty)
            } catch {
                XCTFail("unexpected error type: \(error)")
            }
        }
    }
}

import Foundation
import MetronModel
@testable import MetronReport
import XCTest

final class RecordsFileTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("metron-records-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    let samples = [
        RequestRecord(id: 0, scheduledS: 0.125, sentS: 0.1251, chunkTimesS: [0.5, 0.52, 0.6], chunkTokens: [1, 2, 1],
                      requestedPromptTokens: 512, requestedOutputTokens: 4, promptTokens: 509, outputTokens: 4,
                      tokenRule: .apportionedByText),
        RequestRecord(id: 1, scheduledS: 1e-7, sentS: nil, status: .cancelled, error: "run ended"),
        RequestRecord(id: 2, scheduledS: 3, sentS: 3.001, requestedPromptTokens: 10, requestedOutputTokens: 5,
                      status: .httpError, httpStatus: 503, error: "server said \"overloaded\"\nretry later"),
        RequestRecord(id: 3, scheduledS: 123456.789, sentS: 123456.79, chunkTimesS: [123457.0], chunkTokens: [1],
                      promptTokens: 1, outputTokens: 1, tokenRule: .perChunkUsage),
        RequestRecord(id: 5, scheduledS: 5, sentS: 5.01, chunkTimesS: [5.2], chunkTokens: [1], requestedPromptTokens: 2048,
                      promptTokens: 2049, outputTokens: 1, tokenRule: .perChunkUsage, cachedPromptTokens: 1024),
        RequestRecord(id: 6, scheduledS: 6, sentS: 6.01, chunkTimesS: [6.2, 6.3, 6.4], chunkTokens: [2, 3, 1],
                      promptTokens: 8, outputTokens: 6, tokenRule: .apportionedByText, chunkReasoningTokens: [2, 1, 0]),
        RequestRecord(id: 4, scheduledS: 4, sentS: nil, status: .clientError,
                      error: "could not open a socket (EMFILE: Too many open files)"),
    ]

    func write(_ text: String) throws -> URL {
        let url = directory.appendingPathComponent("requests.jsonl")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func testRoundTripThroughTheFastParserAndTheFallback() throws {
        let data = try RecordsFile.encode(samples)
        let url = directory.appendingPathComponent("requests.jsonl")
        try data.write(to: url)
        XCTAssertEqual(try RecordsFile.read(url), samples)
        // Without the final newline too.
        try data.dropLast().write(to: url)
        XCTAssertEqual(try RecordsFile.read(url), samples)
    }

    func testFastParserAgreesWithJSONDecoder() throws {
        for record in samples {
            var line = try JSONEncoder().encode(record)
            line.append(UInt8(ascii: "\n"))
            let fast = line.dropLast().withUnsafeBytes(RecordLineParser.parse)
            if record.error?.contains("\"") == true {
                XCTAssertNil(fast, "escaped strings go to the fallback")
            } else {
                XCTAssertEqual(fast, record)
            }
        }
        // Forms strtod takes but JSON does not are left to JSONDecoder (which rejects them).
        let hex = Data(#"{"id":0,"scheduled_s":0x10,"status":"ok","chunk_times_s":[],"chunk_tokens":[]}"#.utf8 + [10])
        XCTAssertNil(hex.dropLast().withUnsafeBytes(RecordLineParser.parse))
    }

    func testAnIncompleteLastLineIsSkippedWithAWarning() throws {
        let good = String(decoding: try RecordsFile.encode(Array(samples.prefix(2))), as: UTF8.self)
        let cut = String(String(decoding: try RecordsFile.encode([samples[2]]), as: UTF8.self).prefix(40))
        var warnings: [String] = []
        let records = try RecordsFile.read(try write(good + cut), onWarning: { warnings.append($0) })
        XCTAssertEqual(records, Array(samples.prefix(2)))
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings[0].contains("requests.jsonl:3") && warnings[0].contains("incomplete"), warnings[0])

        // Cut short but followed by a newline, or not the last line: damage, not an interrupted write.
        for text in [good + cut + "\n", cut + "\n" + good] {
            XCTAssertThrowsError(try RecordsFile.read(try write(text))) { XCTAssertTrue("\($0)".contains("not a request record"), "\($0)") }
        }
    }

    func testWriterAppendsBatchesAndRefusesAnExistingFile() throws {
        let url = directory.appendingPathComponent("appended.jsonl")
        let writer = try RecordsFileWriter(creating: url)
        writer.append(Array(samples.prefix(2)))
        writer.append([])
        // Readable between batches, as after a kill.
        XCTAssertEqual(try RecordsFile.read(url), Array(samples.prefix(2)))
        writer.append(Array(samples.dropFirst(2)))
        writer.close()
        XCTAssertEqual(try RecordsFile.read(url), samples)
        XCTAssertEqual(writer.written, samples.count)
        XCTAssertNil(writer.failure)
        XCTAssertThrowsError(try RecordsFileWriter(creating: url)) { XCTAssertTrue("\($0)".contains("cannot create"), "\($0)") }
        XCTAssertThrowsError(try RecordsFileWriter(creating: directory.appendingPathComponent("no/such/dir.jsonl")))
    }

    func testWriterStopsAtTheFirstFailedWrite() throws {
        // /dev/full accepts the open and fails every write with ENOSPC.
        let writer = try RecordsFileWriter(openingForTest: "/dev/full")
        writer.append([samples[0]])
        writer.append([samples[1]])
        XCTAssertEqual(writer.written, 0)
        XCTAssertTrue(writer.failure?.contains("No space left") == true, writer.failure ?? "no failure")
    }

    func testTokenRuleIsOptionalAndChecked() throws {
        let old = #"{"id":7,"scheduled_s":1,"status":"ok","chunk_times_s":[2],"chunk_tokens":[3]}"#
        let withRule = #"{"id":7,"scheduled_s":1,"status":"ok","chunk_times_s":[2],"chunk_tokens":[3],"token_rule":"one_per_chunk"}"#
        let records = try RecordsFile.read(try write(old + "\n" + withRule + "\n"))
        XCTAssertEqual(records.map(\.tokenRule), [nil, .onePerChunk], "files written before the field exist stay readable")
        let unknown = #"{"id":7,"scheduled_s":1,"status":"ok","chunk_times_s":[2],"chunk_tokens":[3],"token_rule":"guessed"}"#
        XCTAssertThrowsError(try RecordsFile.read(try write(unknown + "\n"))) {
            XCTAssertTrue("\($0)".contains("requests.jsonl:1"), "\($0)")
        }
    }

    func testReasoningTokensAreOptionalAndOmittedWithoutReasoning() throws {
        let old = #"{"id":7,"scheduled_s":1,"status":"ok","chunk_times_s":[2],"chunk_tokens":[3]}"#
        let reasoning = #"{"id":8,"scheduled_s":1,"status":"ok","chunk_times_s":[2,3],"chunk_tokens":[3,1],"chunk_reasoning_tokens":[3,0]}"#
        let explicitNull = #"{"id":9,"scheduled_s":1,"status":"ok","chunk_times_s":[2],"chunk_tokens":[3],"chunk_reasoning_tokens":null}"#
        let records = try RecordsFile.read(try write([old, reasoning, explicitNull].joined(separator: "\n") + "\n"))
        XCTAssertEqual(records.map(\.chunkReasoningTokens), [nil, [3, 0], nil])
        XCTAssertEqual(records.map(\.reasoningTokens), [0, 3, 0])
        XCTAssertEqual(records.map(\.firstOutputS), [2, 3, 2])
        let line = String(decoding: try JSONEncoder().encode(RequestRecord(id: 1, scheduledS: 0, chunkTimesS: [1], chunkTokens: [1])), as: UTF8.self)
        XCTAssertFalse(line.contains("chunk_reasoning_tokens"), "a record without reasoning is written as before: \(line)")
    }

    func testBadReasoningTokensNameWhatIsWrong() throws {
        let cases: [(String, String)] = [
            (#"{"id":1,"scheduled_s":0,"status":"ok","chunk_times_s":[1],"chunk_tokens":[2],"chunk_reasoning_tokens":[1,0]}"#,
             ":1: chunk_reasoning_tokens and chunk_tokens differ in length"),
            (#"{"id":1,"scheduled_s":0,"status":"ok","chunk_times_s":[1,2],"chunk_tokens":[2,1],"chunk_reasoning_tokens":[1,2]}"#,
             ":1: chunk_reasoning_tokens[1] is 2, expected 0 to chunk_tokens[1] (1)"),
            (#"{"id":1,"scheduled_s":0,"status":"ok","chunk_times_s":[1],"chunk_tokens":[2],"chunk_reasoning_tokens":[-1]}"#,
             ":1: chunk_reasoning_tokens[0] is -1"),
            (#"{"id":1,"scheduled_s":0,"status":"ok","chunk_times_s":[1],"chunk_tokens":[2],"requested_prompt_tokens":1,"requested_output_tokens":2,"chunk_reasoning_tokens":"all"}"#,
             ":1: not a request record: wrong type at 'chunk_reasoning_tokens'"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try RecordsFile.read(try write(text + "\n"))) {
                XCTAssertTrue("\($0)".contains(expected), "got: \($0)")
            }
        }
    }

    func testBadLinesNameFileAndLine() throws {
        let good = String(decoding: try RecordsFile.encode([samples[0]]), as: UTF8.self)
        let cases: [(String, String)] = [
            (good + "{\"id\": 1}\n", ":2: not a request record: missing '"),
            (good + good + "not json\n", ":3: not a request record: invalid JSON"),
            ("{\"id\": \"x\", \"scheduled_s\": 0, \"status\": \"ok\", \"chunk_times_s\": [], \"chunk_tokens\": []}\n",
             ":1: not a request record: wrong type at 'id'"),
            ("{\"id\": 1, \"scheduled_s\": 0, \"status\": \"fine\", \"chunk_times_s\": [], \"chunk_tokens\": []}\n",
             ":1: not a request record: invalid value at 'status'"),
            ("{\"id\": 1, \"scheduled_s\": 0, \"status\": \"ok\", \"chunk_times_s\": [1], \"chunk_tokens\": []}\n",
             ":1: chunk_times_s and chunk_tokens differ in length"),
        ]
        for (text, expected) in cases {
            let url = try write(text)
            XCTAssertThrowsError(try RecordsFile.read(url)) {
                XCTAssertTrue("\($0)".contains(expected), "got: \($0)")
                XCTAssertTrue("\($0)".hasPrefix(url.path))
            }
        }
        XCTAssertThrowsError(try RecordsFile.read(directory.appendingPathComponent("missing.jsonl"))) {
            XCTAssertTrue("\($0)".contains("cannot open"))
        }
    }

    func testBlankLinesAreSkipped() throws {
        let good = String(decoding: try RecordsFile.encode([samples[0]]), as: UTF8.self)
        XCTAssertEqual(try RecordsFile.read(try write("\n" + good + "\n\n")).count, 1)
    }
}

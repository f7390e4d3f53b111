import Foundation
import MetronModel
@testable import MetronReport
import XCTest

/// `requests.bin`, the binary copy of `requests.jsonl`: read only while it matches the JSON lines.
final class RecordsBinaryCopyTests: XCTestCase {
    var directory: URL!
    var url: URL { directory.appendingPathComponent("requests.jsonl") }
    var copy: URL { directory.appendingPathComponent("requests.bin") }

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("metron-copy-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// Every field, present and absent, and enough records for several blocks.
    var records: [RequestRecord] {
        var turn = RequestRecord(id: 1_000_000, scheduledS: 0.125, sentS: 0.1251, chunkTimesS: [0.5, 0.52, 0.6], chunkTokens: [1, 0, 3],
                                 requestedPromptTokens: 512, requestedOutputTokens: 4, promptTokens: 509, outputTokens: 4,
                                 tokenRule: .apportionedByText, cachedPromptTokens: 256, chunkReasoningTokens: [1, 0, 0])
        turn.session = 7
        turn.turn = 2
        let varied = [
            turn,
            RequestRecord(id: -3, scheduledS: -0.0, sentS: nil, status: .cancelled, error: "run ended"),
            RequestRecord(id: 2, scheduledS: 3, sentS: 3.001, requestedPromptTokens: 10, requestedOutputTokens: 5,
                          status: .httpError, httpStatus: 503, error: "server said \"overloaded\"\nretry later, ünïcode"),
            RequestRecord(id: Int.max, scheduledS: 1e300, sentS: .leastNonzeroMagnitude, chunkTimesS: [Double.greatestFiniteMagnitude],
                          chunkTokens: [Int.max], promptTokens: Int.min, outputTokens: 1, status: .streamError, error: "extremes",
                          tokenRule: .onePerChunk),
            RequestRecord(id: 4, scheduledS: 4, sentS: nil, status: .clientError, error: ""),
        ]
        let many = (0..<800).map { i in
            let times = (0..<60).map { 0.5 + Double(i) + Double($0) * 0.0123456789 }
            return RequestRecord(id: 10 + i, scheduledS: Double(i) * 0.01, sentS: Double(i) * 0.01 + 1e-4, chunkTimesS: times,
                                 chunkTokens: times.map { _ in 1 + i % 3 }, requestedPromptTokens: 8, requestedOutputTokens: 60,
                                 status: i % 17 == 0 ? .timeout : .ok)
        }
        return varied + many
    }

    func writeWithWriter(_ records: [RequestRecord], close: Bool = true) throws -> RecordsFileWriter {
        let writer = try RecordsFileWriter(creating: url)
        for start in stride(from: 0, to: records.count, by: 300) {
            writer.append(Array(records[start..<min(records.count, start + 300)]))
        }
        if close { writer.close() }
        return writer
    }

    func readWithoutCopy() throws -> [RequestRecord] {
        let aside = directory.appendingPathComponent("aside.bin")
        try FileManager.default.moveItem(at: copy, to: aside)
        defer { try? FileManager.default.moveItem(at: aside, to: copy) }
        XCTAssertFalse(RecordsFile.hasMatchingBinaryCopy(url))
        return try RecordsFile.read(url)
    }

    func testTheWriterLeavesACopyThatReadsAsTheSameRecords() throws {
        let records = records
        _ = try writeWithWriter(records)
        XCTAssertTrue(RecordsFile.hasMatchingBinaryCopy(url))
        let index = try XCTUnwrap(RecordsSidecar.Index(matching: url, status: try status(of: url)))
        XCTAssertGreaterThan(index.chunks.count, 1, "several chunks, read in parallel")
        index.close()
        XCTAssertEqual(try RecordsFile.read(url), records)
        XCTAssertEqual(try readWithoutCopy(), records)
        XCTAssertLessThan(try size(of: copy), try size(of: url) / 2)

        // `RecordsFile.write` leaves one too, and an empty file has an empty copy.
        try FileManager.default.removeItem(at: url)
        try RecordsFile.write(records, to: url)
        XCTAssertTrue(RecordsFile.hasMatchingBinaryCopy(url))
        XCTAssertEqual(try RecordsFile.read(url), records)
        try RecordsFile.write([], to: url)
        XCTAssertTrue(RecordsFile.hasMatchingBinaryCopy(url))
        XCTAssertEqual(try RecordsFile.read(url), [])
    }

    func testTheCopyIsWhatIsRead() throws {
        let records = Array(records.prefix(50))
        _ = try writeWithWriter(records)
        // Overwrite the JSON lines with blanks of the same size and give back their time: only the
        // copy can still produce the records.
        let before = try status(of: url)
        try Data(repeating: UInt8(ascii: " "), count: Int(before.st_size)).write(to: url)
        var times = [before.st_atim, before.st_mtim]
        XCTAssertEqual(utimensat(AT_FDCWD, url.path, &times, 0), 0)
        XCTAssertEqual(try RecordsFile.read(url), records)
    }

    func testACopyThatDoesNotMatchTheRecordsIsIgnored() throws {
        let records = Array(records.prefix(40))
        _ = try writeWithWriter(records)
        let original = try Data(contentsOf: copy)

        // Records appended to the JSON lines afterwards.
        let more = RequestRecord(id: 99, scheduledS: 9, sentS: nil, status: .cancelled, error: "late")
        let handle = try FileHandle(forWritingTo: url)
        handle.seekToEndOfFile()
        handle.write(try RecordsFile.encode([more]))
        try handle.close()
        XCTAssertFalse(RecordsFile.hasMatchingBinaryCopy(url))
        XCTAssertEqual(try RecordsFile.read(url), records + [more])

        // Same size, another modification time.
        try RecordsFile.encode(records.reversed()).write(to: url)
        XCTAssertFalse(RecordsFile.hasMatchingBinaryCopy(url))
        XCTAssertEqual(try RecordsFile.read(url), records.reversed())

        // A copy cut short, or that is not one, is ignored as well.
        try FileManager.default.removeItem(at: url)
        try original.write(to: copy)
        _ = try writeWithWriter([])  // a matching empty copy again
        let matching = try Data(contentsOf: copy)
        XCTAssertTrue(RecordsFile.hasMatchingBinaryCopy(url))
        for damaged in [matching.dropLast(), Data("MTRNRB02".utf8) + matching.dropFirst(8), Data()] {
            try damaged.write(to: copy)
            XCTAssertFalse(RecordsFile.hasMatchingBinaryCopy(url))
            XCTAssertEqual(try RecordsFile.read(url), [])
        }
    }

    func testARunStoppedBeforeClosingIsReadFromItsJSONLines() throws {
        let records = Array(records.prefix(120))
        let writer = try writeWithWriter(records, close: false)
        XCTAssertFalse(RecordsFile.hasMatchingBinaryCopy(url), "no trailer until the writer closes")
        XCTAssertEqual(try RecordsFile.read(url), records)
        writer.close()
        XCTAssertTrue(RecordsFile.hasMatchingBinaryCopy(url))
    }

    func testADamagedCopyIsNamedAndNotReadAsRecords() throws {
        let records = records
        _ = try writeWithWriter(records)
        var bytes = try Data(contentsOf: copy)
        bytes[bytes.count / 2] ^= 0x40
        // Writing the copy leaves the JSON lines alone, so the trailer still matches them.
        try bytes.write(to: copy)
        XCTAssertTrue(RecordsFile.hasMatchingBinaryCopy(url))
        var seen = 0
        XCTAssertThrowsError(try RecordsFile.forEach(url) { _ in seen += 1 }) {
            let text = "\($0)"
            XCTAssertTrue(text.hasPrefix(url.path + ":"), text)
            XCTAssertTrue(text.contains("its binary copy requests.bin is damaged here: delete requests.bin"), text)
        }
        XCTAssertLessThan(seen, records.count)
        try FileManager.default.removeItem(at: copy)
        XCTAssertEqual(try RecordsFile.read(url), records)
    }

    func testACopyThatCannotBeWrittenLeavesTheRecordsAlone() throws {
        // A directory where the copy would go: it cannot be opened for writing.
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: false)
        let writer = try writeWithWriter(Array(records.prefix(30)))
        XCTAssertNil(writer.failure)
        XCTAssertEqual(writer.written, 30)
        XCTAssertFalse(RecordsFile.hasMatchingBinaryCopy(url))
        XCTAssertEqual(try RecordsFile.read(url), Array(records.prefix(30)))
    }

    /// The summary read through the copy is the summary of the records in memory, figure for figure.
    func testSummariesAgreeWithAndWithoutTheCopy() throws {
        let records = records
        _ = try writeWithWriter(records)
        let settings = RunSettings(
            url: "http://127.0.0.1:1", api: "completions", model: "m", targetRate: 2, durationS: 8, warmupS: 0.5, seed: 1,
            workload: "w", maxInFlight: nil, timeouts: [:], drainTimeoutS: 1, ttftDeadlineS: 1, tbtDeadlineS: 0.02,
            lagThresholdS: 0.01, promptCalibration: "none", tokensPerWord: 1, overheadTokens: 0, realtime: false,
            headerNames: [], startedAt: "2026-01-01T00:00:00Z", timerLatenessS: [])
        let inMemory = settings.summary(of: records)
        XCTAssertEqual(try settings.summary(ofRecordsIn: url), inMemory)
        let aside = directory.appendingPathComponent("aside.bin")
        try FileManager.default.moveItem(at: copy, to: aside)
        XCTAssertEqual(try settings.summary(ofRecordsIn: url), inMemory)
    }

    func status(of url: URL) throws -> stat {
        var s = stat()
        guard stat(url.path, &s) == 0 else { throw CocoaError(.fileNoSuchFile) }
        return s
    }

    func size(of url: URL) throws -> Int { Int(try status(of: url).st_size) }
}

import Foundation
import MetronModel
@testable import MetronReport
import XCTest

/// The byte-level number scanner and the chunked reader: the same values and errors as the
/// standard parsers, wherever a line falls among the chunks.
final class RecordScannerTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("metron-scanner-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// The scanner's value for `text`, with room after it as in a record line.
    func scanned(_ text: String) -> (value: Double, length: Int)? {
        let bytes = Array(text.utf8) + Array(repeating: UInt8(ascii: ","), count: 48)
        return bytes.withUnsafeBufferPointer { b in
            let tables = DecimalNumber.Tables.shared
            let end = b.count - 1
            guard let (v, next) = DecimalNumber.scanShort(b.baseAddress!, 0, end, tables)
                ?? DecimalNumber.scan(b.baseAddress!, 0, end, tables) else { return nil }
            return (v, next)
        }
    }

    func assertSameAsSwift(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let expected = Double(text) else { return XCTFail("not a number: \(text)", file: file, line: line) }
        guard let got = scanned(text) else { return XCTFail("scanner refused \(text)", file: file, line: line) }
        XCTAssertEqual(got.value.bitPattern, expected.bitPattern, "\(text): \(got.value) vs \(expected)", file: file, line: line)
        XCTAssertEqual(got.length, text.utf8.count, text, file: file, line: line)
    }

    func testNumbersRoundToTheSameDoubleAsSwift() {
        let fixed = [
            "0", "-0", "0.0", "-0.0", "1", "-1", "7", "0.5", "-0.5", "1e-7", "1E-7", "1e+3", "-2.5E3", "1e0",
            "123456.789", "0.47531979859340934", "2.3677775834240222", "9007199254740993", "9007199254740992.5",
            "18446744073709551615", "18446744073709551616", "123456789012345678901234567890", "1e308", "1.7976931348623157e308",
            "5e-324", "2.2250738585072014e-308", "0.000000000000000000001234", "0.1000000000000000055511151231257827",
            "1.00000000000000011102230246251565404236316680908203125", "12345678.5", "99999999.99999999",
            "0.30000000000000004", "1.0000000000000002", "4.35", "0.1", "0.2", "1e22", "1e23", "8.589973e9",
        ]
        for text in fixed { assertSameAsSwift(text) }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let magnitude = Double.random(in: -9...7, using: &rng)
            let x = pow(10, magnitude) * Double.random(in: 1..<10, using: &rng) * (Bool.random(using: &rng) ? 1 : -1)
            assertSameAsSwift(x.description)
            assertSameAsSwift(String(format: "%.15g", x))
            assertSameAsSwift(String(format: "%.19f", abs(x)))
            let bits = Double(bitPattern: UInt64.random(in: 0...UInt64.max, using: &rng))
            if bits.isFinite { assertSameAsSwift(bits.description) }
        }
    }

    func testWhatJSONForbidsIsNotANumber() {
        for text in ["-", "+1", ".5", "1.", "1e", "1e+", "-.5", "x", "1.e5"] {
            XCTAssertNil(scanned(text), text)
        }
        // A leading zero ends the number: the line then fails at the next digit.
        XCTAssertEqual(scanned("01")?.length, 1)
        XCTAssertEqual(scanned("0x10")?.length, 1)
    }

    func testRecordLinesWithExponentsNegativesAndEscapes() throws {
        let plain = #"{"id":3,"scheduled_s":-1.5e-3,"sent_s":2E1,"status":"http_error","chunk_times_s":[-0.25,1e2,3.0000000000000004],"#
            + #""chunk_tokens":[1,2,3],"requested_prompt_tokens":1,"requested_output_tokens":2,"http_status":500}"#
        let fast = (Array(plain.utf8) + [10]).withUnsafeBytes { RecordLineParser.parse(UnsafeRawBufferPointer(rebasing: $0.dropLast())) }
        XCTAssertEqual(fast, try JSONDecoder().decode(RequestRecord.self, from: Data(plain.utf8)))
        XCTAssertEqual(fast?.scheduledS, -0.0015)
        XCTAssertEqual(fast?.chunkTimesS, [-0.25, 100, 3.0000000000000004])

        let escaped = String(plain.dropLast()) + #","error":"said \"no\"\n\u00e9"}"#
        let url = directory.appendingPathComponent("requests.jsonl")
        try (plain + "\n" + escaped + "\n").write(to: url, atomically: true, encoding: .utf8)
        let records = try RecordsFile.read(url)
        XCTAssertEqual(records.count, 2)
        XCTAssertEqual(records.last?.error, "said \"no\"\n\u{e9}")
        XCTAssertEqual(records.last?.chunkTimesS, fast?.chunkTimesS)
    }

    func testTheTurnsOfASessionAreRead() throws {
        var turn = RequestRecord(id: 7, scheduledS: 2.5, status: .sessionEnded, error: "never sent: turn 1 of session 3 before it ended as timeout")
        turn.session = 3
        turn.turn = 2
        let line = try JSONEncoder().encode(turn)
        let fast = (Array(line) + [10]).withUnsafeBytes { RecordLineParser.parse(UnsafeRawBufferPointer(rebasing: $0.dropLast())) }
        XCTAssertEqual(fast, turn)
        XCTAssertEqual(fast?.session, 3)
        XCTAssertEqual(fast?.turn, 2)
    }

    /// Records enough for several chunks, some lines longer than others.
    func manyRecords(_ n: Int) -> [RequestRecord] {
        (0..<n).map { i in
            let chunks = 1 + (i * 37) % 400
            let times = (0..<chunks).map { 0.5 + Double(i) + Double($0) * 0.0123456789 }
            return RequestRecord(id: i, scheduledS: Double(i) * 0.01, sentS: Double(i) * 0.01 + 1e-4, chunkTimesS: times,
                                 chunkTokens: times.map { _ in 1 + i % 3 }, requestedPromptTokens: 8, requestedOutputTokens: chunks,
                                 status: i % 17 == 0 ? .timeout : .ok)
        }
    }

    func testChunkedReadingKeepsOrderAndLineNumbers() throws {
        let records = manyRecords(600)
        let data = try RecordsFile.encode(records)
        XCTAssertGreaterThan(data.count, 3 * LineChunkParser<RequestRecord>.chunkSize, "spans several chunks")
        let url = directory.appendingPathComponent("requests.jsonl")
        try data.write(to: url)
        XCTAssertEqual(try RecordsFile.read(url), records)

        // A bad line deep in the file is named by its line number, and the records before it are read.
        var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines[300] = String(lines[300].dropLast(3)) + "x}"
        lines.insert("", at: 150)
        try lines.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
        var seen = 0
        XCTAssertThrowsError(try RecordsFile.forEach(url) { _ in seen += 1 }) {
            XCTAssertTrue("\($0)".hasPrefix(url.path + ":302: not a request record"), "\($0)")
        }
        XCTAssertEqual(seen, 300)

        // A last line cut short is skipped with a warning naming it.
        let cut = data.dropLast(40)
        try cut.write(to: url)
        var warnings: [String] = []
        XCTAssertEqual(try RecordsFile.read(url, onWarning: { warnings.append($0) }), Array(records.dropLast()))
        XCTAssertEqual(warnings, ["\(url.path):600: the last line is incomplete (the run was stopped while writing it) and is skipped"])
    }

    func testStoppingEarlyLeavesNoReaderBehind() throws {
        let url = directory.appendingPathComponent("requests.jsonl")
        try RecordsFile.encode(manyRecords(600)).write(to: url)
        struct Enough: Error {}
        for limit in [0, 1, 57, 599] {
            var seen = 0
            XCTAssertThrowsError(try RecordsFile.forEach(url) { _ in
                if seen == limit { throw Enough() }
                seen += 1
            }) { XCTAssertTrue($0 is Enough) }
            XCTAssertEqual(seen, limit)
        }
    }

    func testPreparedRecordsArriveInOrderAndNilLeavesOut() throws {
        let url = directory.appendingPathComponent("requests.jsonl")
        let records = manyRecords(600)
        try RecordsFile.encode(records).write(to: url)
        var ids: [Int] = []
        try RecordsFile.forEach(url, prepare: { $0.id % 2 == 0 ? $0.id : nil }) { ids.append($0) }
        XCTAssertEqual(ids, records.map(\.id).filter { $0 % 2 == 0 })
    }
}

import Foundation
import MetronModel
import MetronReport
import MetronSim
import MetronTestSupport
import XCTest

/// `metron run` interrupted with Ctrl-C, and a model the server does not know.
final class InterruptionTests: XCTestCase {
    private static var binary: URL { MetronBinary.url }

    private final class Box: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        func append(_ more: Data) { lock.withLock { data.append(more) } }
        var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
    }

    /// SIGINT in the middle of a run: the run ends at once, every planned request has a record (the
    /// finished ones ok, the open and unsent ones cancelled), the files are written and the exit status is 130.
    func testCtrlCDuringARunWritesWhatWasMeasuredAndExits130() async throws {
        let server = try await Harness.startSimulator()
        let out = try Harness.temporaryDirectory(self).appendingPathComponent("run")
        let process = Process()
        process.executableURL = Self.binary
        // 10 requests a second for 30 s, each streaming 40 tokens.
        process.arguments = ["run", "--url", server.url, "--model", "llama-3-8b", "--rate", "10", "--duration", "30",
                             "--arrival", "constant", "--prompt-length", "16", "--output-length", "40",
                             "--tokens-per-word", "1", "--out", out.path]
        let stderr = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = stderr
        let errors = Box()
        stderr.fileHandleForReading.readabilityHandler = { errors.append($0.availableData) }
        try process.run()
        // Interrupt once the run is under way (its start line is printed before the first send).
        for _ in 0..<200 where !errors.text.contains("metron run: 300 requests") {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        try await Task.sleep(nanoseconds: 1_500_000_000)
        let interrupted = Date()
        kill(process.processIdentifier, SIGINT)
        let exited = await Task.detached { () -> Bool in
            for _ in 0..<3000 where process.isRunning { usleep(10_000) }
            return !process.isRunning
        }.value
        if !exited { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        stderr.fileHandleForReading.readabilityHandler = nil
        try await server.stop()
        XCTAssertTrue(exited, "the run ended after Ctrl-C")
        XCTAssertLessThan(Date().timeIntervalSince(interrupted), 20, "and did not wait for the 30 s plan")
        XCTAssertEqual(process.terminationStatus, 130, errors.text)
        XCTAssertTrue(errors.text.contains("interrupted"), errors.text)

        let records = try RunDirectory.readRecords(from: out)
        XCTAssertEqual(records.map(\.id), Array(0..<300), "one record per planned request")
        let counts = Harness.counts(records)
        XCTAssertGreaterThan(counts[.ok] ?? 0, 5, "what finished before the interrupt is kept: \(counts)")
        XCTAssertGreaterThan(counts[.cancelled] ?? 0, 200, "the rest is cancelled: \(counts)")
        XCTAssertEqual(Set(counts.keys), [.ok, .cancelled], "\(counts)")
        for r in records where r.status == .cancelled {
            if r.sentS == nil {
                XCTAssertTrue(r.error?.hasPrefix("never sent") ?? false, r.error ?? "")
            } else {
                XCTAssertTrue(r.error?.contains("interrupted") ?? false, r.error ?? "")
            }
        }
        let summary = try JSONDecoder().decode(
            RunSummary.self, from: Data(contentsOf: out.appendingPathComponent("summary.json")))
        XCTAssertEqual(summary.requests, 300)
        XCTAssertEqual(summary.errors["cancelled"], counts[.cancelled])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path).sorted(),
                       ["requests.bin", "requests.jsonl", "run.json", "server_metrics.jsonl", "summary.json"], "no temporary files left")
    }

    /// A model the server does not serve: the calibration stops the run before it starts and says so
    /// (exit 1, nothing written); with calibration skipped, every request is an HTTP 404 record.
    func testAModelTheServerDoesNotKnow() async throws {
        let server = try await Harness.startSimulator()
        let dir = try Harness.temporaryDirectory(self)
        func metron(_ extra: [String], out: URL) throws -> (Int32, String) {
            let process = Process()
            process.executableURL = Self.binary
            process.arguments = ["run", "--url", server.url, "--model", "no-such-model", "--rate", "8", "--duration", "0.5",
                                 "--arrival", "constant", "--out", out.path] + extra
            let err = Pipe()
            process.standardOutput = FileHandle.nullDevice
            process.standardError = err
            try process.run()
            let data = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        let calibrated = dir.appendingPathComponent("calibrated")
        let (status, message) = try metron([], out: calibrated)
        XCTAssertEqual(status, 1, message)
        XCTAssertTrue(message.contains("HTTP 404") && message.contains("no-such-model"), message)
        // The directory is made up front (an unwritable one fails before any load); nothing is written in it.
        let written = (try? FileManager.default.contentsOfDirectory(atPath: calibrated.path)) ?? []
        XCTAssertEqual(written, [], "nothing was run or written")

        let given = dir.appendingPathComponent("given")
        let (status2, message2) = try metron(["--tokens-per-word", "1"], out: given)
        XCTAssertEqual(status2, 0, message2)
        let records = try RunDirectory.readRecords(from: given)
        XCTAssertEqual(records.count, 4)
        XCTAssertTrue(records.allSatisfy { $0.status == .httpError && $0.httpStatus == 404 })
        XCTAssertTrue(records.allSatisfy { $0.error?.contains("model_not_found") ?? false })
        try await server.stop()
    }
}

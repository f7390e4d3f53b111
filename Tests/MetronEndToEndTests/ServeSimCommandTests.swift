import Foundation
import XCTest

/// The built `metron` binary, end to end: the URL line, a request, a clean stop on SIGTERM, the truth log.
final class ServeSimCommandTests: XCTestCase {
    private func binary() throws -> URL {
        let directory = Bundle.main.bundleURL
        for candidate in [directory, directory.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("metron")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw XCTSkip("the metron executable is not built next to the tests")
    }

    private func run(_ arguments: [String]) throws -> (process: Process, stdout: Pipe, stderr: Pipe) {
        let process = Process()
        process.executableURL = try binary()
        process.arguments = ["serve-sim"] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        return (process, out, err)
    }

    func testPrintsItsURLServesAndStopsOnSIGTERM() throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("metron-cli-\(UUID().uuidString).csv")
        defer { try? FileManager.default.removeItem(at: log) }
        let (process, out, _) = try run(["--port", "0", "--scheduler", "sarathi", "--truth-log", log.path])
        defer { if process.isRunning { process.terminate() } }
        // Read the first line byte by byte: the server keeps the pipe open.
        var line = Data()
        while let byte = try out.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) {
            line.append(byte)
        }
        let text = String(decoding: line, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("listening on http://127.0.0.1:"), text)
        let url = try XCTUnwrap(URL(string: String(text.dropFirst("listening on ".count)) + "/v1/completions"))

        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        curl.arguments = ["-s", "-N", "-d", "{\"prompt\": \"a b c\", \"max_tokens\": 3, \"stream\": true}", url.absoluteString]
        let curlOut = Pipe()
        curl.standardOutput = curlOut
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") {
            try curl.run()
            let body = String(decoding: curlOut.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            curl.waitUntilExit()
            XCTAssertTrue(body.hasSuffix("data: [DONE]\n\n"), body)
        }

        process.terminate()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let lines = try String(contentsOf: log, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.first, "request_id,emission_time_s")
        if curl.processIdentifier != 0 { XCTAssertEqual(lines.count, 1 + 3) }
    }

    func testBadFlagsExitWithStatus2AndListEveryProblem() throws {
        let (process, _, err) = try run([
            "--hardware", "tpu", "--scheduler", "fifo", "--error-rate", "1.5", "--truth-log", "/nonexistent/x.csv",
        ])
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 2)
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        for fragment in ["--hardware tpu", "--scheduler fifo", "--error-rate"] {
            XCTAssertTrue(message.contains(fragment), message)
        }

        let (tooBig, _, tooBigErr) = try run(["--model", "llama-3-70b", "--tp", "1"])
        tooBig.waitUntilExit()
        XCTAssertEqual(tooBig.terminationStatus, 2)
        let text = String(decoding: tooBigErr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(text.contains("no room for a KV cache"), text)

        let (badPath, _, badPathErr) = try run(["--truth-log", "/nonexistent/x.csv"])
        badPath.waitUntilExit()
        XCTAssertEqual(badPath.terminationStatus, 2)
        XCTAssertTrue(
            String(decoding: badPathErr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).contains("--truth-log"))
    }

    func testCustomConfigurationFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("metron-cfg-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data("""
            {"hardware": {"name": "my-gpu", "peak_tflops": 100, "memory_bandwidth_gb_s": 1000, "memory_gb": 40},
             "model": {"name": "small", "layers": 4, "hidden_size": 512, "attention_heads": 8,
                       "vocab_size": 1000, "params_billion": 0.05, "max_model_len": 2048},
             "scheduler": {"kind": "sarathi"}}
            """.utf8).write(to: file)
        let (process, out, _) = try run(["--config", file.path])
        defer { if process.isRunning { process.terminate() } }
        var line = Data()
        while let byte = try out.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) {
            line.append(byte)
        }
        XCTAssertTrue(String(decoding: line, as: UTF8.self).hasPrefix("listening on http://"))
        process.terminate()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)

        let (clash, _, clashErr) = try run(["--config", file.path, "--model", "llama-3-8b"])
        clash.waitUntilExit()
        XCTAssertEqual(clash.terminationStatus, 2)
        XCTAssertTrue(String(decoding: clashErr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).contains("drop --model"))

        try Data(#"{"hardware": {"name": "g", "peak_tflops": 1, "memory_bandwidth_gb_s": 1, "memory_gb": 1}, "model": {"name": "m"}}"#.utf8)
            .write(to: file)
        let (bad, _, badErr) = try run(["--config", file.path])
        bad.waitUntilExit()
        XCTAssertEqual(bad.terminationStatus, 2)
        let message = String(decoding: badErr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(message.contains("missing model."), message)
    }
}

import ArgumentParser
import Foundation
import MetronReport

struct FluidityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fluidity",
        abstract: "Compute deadline-miss rates, fluidity-index and token rates for JSON lines.",
        discussion: """
            Each input line is a JSON object with "kind": "request" (inter_token_times, ttft_deadline, \
            tbt_deadline, target_deadline_miss_rate, ignore_first_token) or "kind": "service" (requests: \
            a list of inter-token time lists; ttft_deadline 0.3 and tbt_deadline 0.05 unless given). \
            One JSON object is written per line, in order; a bad line gets {"error": ...}.
            """)

    @Argument(help: "A JSON-lines file; standard input when omitted.")
    var file: String?

    func run() throws {
        let source = file ?? "<stdin>"
        let handle: FileHandle
        if let file {
            guard let h = FileHandle(forReadingAtPath: file) else {
                throw ValidationError("cannot open \(file): no such file or not readable")
            }
            handle = h
        } else {
            handle = FileHandle.standardInput
        }
        var failures = 0
        var lineNumber = 0
        for bytes in JSONLines(handle) {
            lineNumber += 1
            let line = String(decoding: bytes, as: UTF8.self)
            if line.allSatisfy(\.isWhitespace) { continue }
            let answer: [String: Any]
            do {
                answer = try FluidityLines.evaluate(line)
            } catch {
                failures += 1
                FileHandle.standardError.write(Data("\(source):\(lineNumber): \(error)\n".utf8))
                answer = ["error": "line \(lineNumber): \(error)"]
            }
            print(FluidityLines.jsonLine(answer))
        }
        if failures > 0 { throw ExitCode(1) }
    }
}

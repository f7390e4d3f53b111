import Foundation
import XCTest

/// Runs the built `metron` executable, as a user would.
enum CLI {
    /// The test bundle sits next to the products of the same build.
    static var binary: URL { Bundle.main.bundleURL.appendingPathComponent("metron") }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    private final class Box: @unchecked Sendable { var data = Data() }

    static func run(_ arguments: [String], stdin: String = "", environment: [String: String]? = nil) throws -> Result {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
        // Drain both pipes before waiting, so a large output cannot block the child.
        let errors = Box()
        let reader = Thread { errors.data = err.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !reader.isFinished { usleep(1000) }
        return Result(
            status: process.terminationStatus, stdout: String(decoding: output, as: UTF8.self),
            stderr: String(decoding: errors.data, as: UTF8.self))
    }
}

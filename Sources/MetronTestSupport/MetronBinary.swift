import Foundation

/// The built `metron` executable, run as a user would, for end-to-end tests.
public enum MetronBinary {
    /// The test bundle sits next to the products of the same build.
    public static var url: URL { Bundle.main.bundleURL.appendingPathComponent("metron") }

    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    private final class Box: @unchecked Sendable { var data = Data() }

    /// Runs to completion; `environment`, when given, replaces the inherited one. `executable` (an
    /// installed copy) and `directory` (the working directory) default to the build's and this process's.
    public static func run(
        _ arguments: [String], stdin: String = "", environment: [String: String]? = nil, executable: URL? = nil,
        directory: URL? = nil
    ) throws -> Result {
        let process = Process()
        process.executableURL = executable ?? url
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = directory }
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

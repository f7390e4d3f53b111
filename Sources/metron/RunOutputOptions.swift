import ArgumentParser
import Foundation
import MetronReport

/// Where `metron run` writes: a new directory, or an existing one that holds no run yet.
struct RunOutputOptions: ParsableArguments {
    @Option(help: "Results directory (created if missing).")
    var out: String

    func validate() throws {
        if out.isEmpty { throw ValidationError("--out must name a directory") }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw ValidationError("--out \(out) is a file, not a directory") }
            if FileManager.default.fileExists(atPath: out + "/" + RunDirectory.recordsFile) {
                throw ValidationError("--out \(out) already holds a run (\(RunDirectory.recordsFile)); choose another directory")
            }
        }
    }

    /// The directory, created if missing and checked writable.
    func createDirectory() throws -> URL {
        let directory = URL(fileURLWithPath: out, isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ValidationError("--out \(out): cannot create the directory: \(error.localizedDescription)")
        }
        guard FileManager.default.isWritableFile(atPath: out) else {
            throw ValidationError("--out \(out): the directory is not writable")
        }
        return directory
    }
}

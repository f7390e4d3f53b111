import Foundation

/// Files Metron ships beside its executable, found from where the executable is, never from the
/// current directory: `PREFIX/bin/metron` uses `PREFIX/share/metron/`, a build tree's
/// `<repo>/.build/<config>/metron` uses the repository's own files.
enum InstalledAssets {
    static let plotScriptName = "plot_sweep.py"

    /// The plotting script, or nil (with the places looked in) when there is none.
    static func plotScript() -> (url: URL?, searched: [URL]) {
        let candidates = plotScriptCandidates(executable: executableURL())
        return (candidates.first { FileManager.default.fileExists(atPath: $0.path) }, candidates)
    }

    static func plotScriptCandidates(executable: URL?) -> [URL] {
        guard let executable else { return [] }
        let bin = executable.deletingLastPathComponent()
        var candidates = [bin.deletingLastPathComponent().appendingPathComponent("share/metron/\(plotScriptName)")]
        // In a build tree the executable is somewhere under <repo>/.build/.
        var directory = bin
        while directory.path != "/" {
            if directory.lastPathComponent == ".build" {
                candidates.append(directory.deletingLastPathComponent().appendingPathComponent("plots-scripts/\(plotScriptName)"))
                break
            }
            directory = directory.deletingLastPathComponent()
        }
        return candidates
    }

    /// This executable with symbolic links resolved: /proc/self/exe on Linux, else argv[0] found
    /// against the current directory or PATH.
    static func executableURL() -> URL? {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return URL(fileURLWithPath: path)
        }
        guard let argument = CommandLine.arguments.first, !argument.isEmpty else { return nil }
        if argument.contains("/") { return URL(fileURLWithPath: argument).resolvingSymlinksInPath() }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        return path.split(separator: ":").map { URL(fileURLWithPath: String($0)).appendingPathComponent(argument) }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }?.resolvingSymlinksInPath()
    }
}

import Foundation
import PackagePlugin

/// Embeds the source revision in the MetronVersion module, so a plain `swift build` knows what it
/// built without any Makefile step. A build command (prebuild commands are not rerun on incremental
/// builds) whose inputs are the git files a commit or checkout rewrites.
@main
struct EmbedRevision: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let package = context.package.directoryURL
        let script = package.appending(path: "scripts/embed-revision.sh")
        let output = context.pluginWorkDirectoryURL.appending(path: "SourceRevision.swift")
        return [
            .buildCommand(
                displayName: "Embedding the source revision", executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [script.path, package.path, output.path], inputFiles: [script] + Self.gitFiles(of: package),
                outputFiles: [output]),
        ]
    }

    /// HEAD, the index, the branch's ref and packed-refs of the package's checkout (a worktree's
    /// `.git` is a file naming its git directory); none for a tarball.
    static func gitFiles(of package: URL) -> [URL] {
        func text(_ url: URL) -> String? {
            (try? String(contentsOf: url, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var gitDirectory = package.appending(path: ".git")
        if let link = text(gitDirectory), link.hasPrefix("gitdir:") {
            gitDirectory = URL(fileURLWithPath: link.dropFirst("gitdir:".count).trimmingCharacters(in: .whitespaces), relativeTo: package)
        }
        let common = text(gitDirectory.appending(path: "commondir")).map { URL(fileURLWithPath: $0, relativeTo: gitDirectory) }
            ?? gitDirectory
        let head = gitDirectory.appending(path: "HEAD")
        var files = [head, gitDirectory.appending(path: "index"), common.appending(path: "packed-refs")]
        if let ref = text(head), ref.hasPrefix("ref: ") { files.append(common.appending(path: String(ref.dropFirst(5)))) }
        return files.map(\.standardizedFileURL).filter { FileManager.default.fileExists(atPath: $0.path) }
    }
}

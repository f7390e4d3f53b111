import Foundation
import PackagePlugin

/// Embeds the source revision in the MetronVersion module before every build, so a plain
/// `swift build` knows what it built without any Makefile step.
@main
struct EmbedRevision: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "generated")
        let script = context.package.directoryURL.appending(path: "scripts/embed-revision.sh")
        return [
            .prebuildCommand(
                displayName: "Embedding the source revision", executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [script.path, context.package.directoryURL.path, output.path], outputFilesDirectory: output),
        ]
    }
}

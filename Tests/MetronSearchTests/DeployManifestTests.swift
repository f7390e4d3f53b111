import Foundation
import MetronSweep
import Yams
import XCTest

/// The launch files of `deploy/`: every Kubernetes manifest parses, each sharded Job gives every pod
/// its index and the same count, and every sweep file it carries is valid; every Slurm script passes
/// `bash -n` and shards with `--shard auto`.
final class DeployManifestTests: XCTestCase {
    let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy")

    func files(_ folder: String, _ suffix: String) throws -> [URL] {
        let directory = deploy.appendingPathComponent(folder)
        return try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(suffix) }.sorted()
            .map { directory.appendingPathComponent($0) }
    }

    func testKubernetesIndexedJobsWireTheShardIndexAndCount() throws {
        let manifests = try files("kubernetes", ".yaml")
        XCTAssertFalse(manifests.isEmpty)
        var jobs = 0
        for file in manifests {
            for case let document as [String: Any] in try Yams.load_all(yaml: String(contentsOf: file, encoding: .utf8)) {
                XCTAssertNotNil(document["apiVersion"], file.lastPathComponent)
                XCTAssertNotNil((document["metadata"] as? [String: Any])?["name"], file.lastPathComponent)
                if document["kind"] as? String == "ConfigMap", let data = document["data"] as? [String: String] {
                    for (key, text) in data where key.hasSuffix(".yaml") {
                        XCTAssertNoThrow(try SweepFile.parse(text, file: key, baseDirectory: deploy), "\(file.lastPathComponent): \(key)")
                    }
                }
                guard document["kind"] as? String == "Job" else { continue }
                let spec = try XCTUnwrap(document["spec"] as? [String: Any], file.lastPathComponent)
                guard spec["completionMode"] != nil || spec["completions"] != nil else { continue }
                jobs += 1
                XCTAssertEqual(spec["completionMode"] as? String, "Indexed", file.lastPathComponent)
                let completions = try XCTUnwrap(spec["completions"] as? Int)
                XCTAssertEqual(spec["parallelism"] as? Int, completions, "every shard runs at once: \(file.lastPathComponent)")
                let pod = try XCTUnwrap((spec["template"] as? [String: Any])?["spec"] as? [String: Any])
                XCTAssertEqual(pod["restartPolicy"] as? String, "Never", "a shard is not rerun over its own records")
                let container = try XCTUnwrap((pod["containers"] as? [[String: Any]])?.first)
                let args = try XCTUnwrap(container["args"] as? [String])
                XCTAssertTrue(args.contains("--shard=auto"), "\(file.lastPathComponent): \(args)")
                XCTAssertTrue(args.contains("--shards=\(completions)"), "--shards must equal completions: \(file.lastPathComponent)")
                let out = try XCTUnwrap(args.lazy.compactMap { arg in
                    ["--out=", "--results="].first(where: arg.hasPrefix).map { arg.dropFirst($0.count) }
                }.first, "\(file.lastPathComponent): a sharded Job names where its shards write")
                let mounts = (container["volumeMounts"] as? [[String: Any]] ?? []).compactMap { $0["mountPath"] as? String }
                XCTAssertTrue(mounts.contains { out.hasPrefix($0) }, "the shards' output must be on a shared volume: \(file.lastPathComponent)")
            }
        }
        XCTAssertGreaterThanOrEqual(jobs, 2, "a sharded run and a sharded sweep")
    }

    func testEveryServiceSelectsADeploymentsPodsOnItsPort() throws {
        var documents: [[String: Any]] = []
        for file in try files("kubernetes", ".yaml") {
            documents += try Yams.load_all(yaml: String(contentsOf: file, encoding: .utf8)).compactMap { $0 as? [String: Any] }
        }
        let services = documents.filter { $0["kind"] as? String == "Service" }
        XCTAssertFalse(services.isEmpty)
        for service in services {
            let spec = try XCTUnwrap(service["spec"] as? [String: Any])
            let selector = try XCTUnwrap(spec["selector"] as? [String: String])
            let target = try XCTUnwrap((spec["ports"] as? [[String: Any]])?.first?["targetPort"] as? Int)
            let pods = documents.filter { $0["kind"] as? String == "Deployment" }.compactMap { d -> [String: Any]? in
                let template = (d["spec"] as? [String: Any])?["template"] as? [String: Any]
                let labels = (template?["metadata"] as? [String: Any])?["labels"] as? [String: String] ?? [:]
                return selector.allSatisfy { labels[$0.key] == $0.value } ? template?["spec"] as? [String: Any] : nil
            }
            let ports = pods.flatMap { ($0["containers"] as? [[String: Any]] ?? []).flatMap { ($0["ports"] as? [[String: Any]] ?? []) } }
            XCTAssertTrue(ports.contains { $0["containerPort"] as? Int == target }, "a Service must reach a container port of its pods")
        }
    }

    func testSlurmScriptsParseAndShardWithTheLaunchersIndex() throws {
        let scripts = try files("slurm", ".sbatch")
        XCTAssertFalse(scripts.isEmpty)
        for script in scripts {
            let check = Process()
            check.executableURL = URL(fileURLWithPath: "/bin/bash")
            check.arguments = ["-n", script.path]
            try check.run()
            check.waitUntilExit()
            XCTAssertEqual(check.terminationStatus, 0, script.lastPathComponent)
            let text = try String(contentsOf: script, encoding: .utf8)
            XCTAssertTrue(text.contains("#SBATCH"), script.lastPathComponent)
            if text.contains("--shard") { XCTAssertTrue(text.contains("--shard auto"), script.lastPathComponent) }
        }
    }
}

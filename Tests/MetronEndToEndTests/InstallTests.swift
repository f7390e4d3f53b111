import Foundation
import MetronModel
import MetronTestSupport
import XCTest

/// `make install` into a temporary DESTDIR, the installed metron run from an unrelated directory,
/// and the provenance its results carry.
final class InstallTests: XCTestCase {
    var directory: URL!
    /// The repository: this file is Tests/MetronEndToEndTests/InstallTests.swift.
    let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("metron-install-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func make(_ arguments: [String]) throws -> MetronBinary.Result {
        try MetronBinary.run(["make", "-C", repository.path] + arguments, executable: URL(fileURLWithPath: "/usr/bin/env"))
    }

    func json(_ url: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    /// One fast simulated system with probes of about a second, in virtual time.
    func writeSweep(in directory: URL) throws -> URL {
        let url = directory.appendingPathComponent("tiny.yaml")
        try """
            name: tiny
            systems:
              - name: fast
                simulator: {hardware: h100, model: llama-3-8b, scheduler: sarathi}
            workloads:
              - {name: short, prompt_tokens: 64, output_tokens: 8}
            slos:
              - {name: p99, prefill_model: fixed, ttft_deadline_s: 0.5, tbt_deadline_s: 0.1}
            search: {start_rate: 10, probe_budget: 4, relative_ci_width: 0.5}
            probe: {requests: 1, bracket_requests: 1, duration_s: 1.5, warmup_s: 0.2, min_requests: 15}
            """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func testTheInstalledMetronPlotsFromAnyDirectoryAndRecordsItsProvenance() throws {
        let destination = directory.appendingPathComponent("dest")
        let install = try make(["install", "DESTDIR=\(destination.path)", "PREFIX=/usr", "METRON_BIN=\(MetronBinary.url.path)"])
        XCTAssertEqual(install.status, 0, install.stderr)
        let usr = destination.appendingPathComponent("usr")
        let installed = usr.appendingPathComponent("bin/metron")
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: installed.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: usr.appendingPathComponent("share/metron/plot_sweep.py").path))
        let bash = try String(contentsOf: usr.appendingPathComponent("share/bash-completion/completions/metron"), encoding: .utf8)
        XCTAssertTrue(bash.contains("metron") && bash.contains("complete"), bash)
        let zsh = try String(contentsOf: usr.appendingPathComponent("share/zsh/site-functions/_metron"), encoding: .utf8)
        XCTAssertTrue(zsh.hasPrefix("#compdef metron"), zsh)

        // Run from a directory that holds nothing of the repository's.
        let elsewhere = directory.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        let sweepFile = try writeSweep(in: elsewhere)
        let sweep = try MetronBinary.run(["sweep", "tiny.yaml", "--simulate"], executable: installed, directory: elsewhere)
        XCTAssertEqual(sweep.status, 0, sweep.stderr)
        XCTAssertFalse(sweep.stderr.contains("plots skipped"), sweep.stderr)
        let results = elsewhere.appendingPathComponent("results/tiny-simulated")
        let plots = try FileManager.default.contentsOfDirectory(atPath: results.appendingPathComponent("plots").path)
        XCTAssertTrue(plots.contains("capacity.png") && plots.contains("attainment.png"), "\(plots)")

        // The version printed is the one every result records.
        let version = try MetronBinary.run(["--version"], executable: installed).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertFalse(version.isEmpty)
        let provenance = try json(results.appendingPathComponent("provenance.json"))
        XCTAssertEqual(provenance["metron_version"] as? String, version)
        XCTAssertEqual(provenance["sweep_file_sha256"] as? String, SHA256.hex(try Data(contentsOf: sweepFile)))
        XCTAssertEqual(provenance["command_line"] as? [String], [installed.path, "sweep", "tiny.yaml", "--simulate"])
        for key in ["started_at", "ended_at", "client", "timer_lateness_at_start", "servers"] {
            XCTAssertNotNil(provenance[key], "provenance.json lacks \(key)")
        }
        let server = try XCTUnwrap((provenance["servers"] as? [[String: Any]])?.first)
        XCTAssertTrue((server["simulator"] as? String)?.contains("H100") == true, "\(server)")
        let search = results.appendingPathComponent("fast/short/p99")
        let capacity = try json(search.appendingPathComponent("capacity.json"))
        XCTAssertEqual((capacity["provenance"] as? [String: Any])?["metron_version"] as? String, version)
        XCTAssertNil((capacity["provenance"] as? [String: Any])?["probe_metron_versions"], "every probe is this version's")
        let probes = results.appendingPathComponent("fast/short/probes")
        let probe = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: probes.path).sorted().first)
        let probeJSON = probes.appendingPathComponent("\(probe)/probe.json")
        XCTAssertEqual(try json(probeJSON)["metron_version"] as? String, version)

        // A probe measured by another version is reused (the record format decides) but never silently.
        var old = try json(probeJSON)
        old["metron_version"] = "0.0.9 (older)"
        try JSONSerialization.data(withJSONObject: old).write(to: probeJSON)
        let rerun = try MetronBinary.run(["sweep", "tiny.yaml", "--simulate", "--no-plots"], executable: installed, directory: elsewhere)
        XCTAssertEqual(rerun.status, 0, rerun.stderr)
        XCTAssertTrue(rerun.stderr.contains("reusing probe \(probe)"), rerun.stderr)
        let mixed = try json(search.appendingPathComponent("capacity.json"))
        let versions = try XCTUnwrap((mixed["provenance"] as? [String: Any])?["probe_metron_versions"] as? [String: [String]])
        XCTAssertEqual(versions["0.0.9 (older)"], [probe])
        XCTAssertEqual(Set(versions.keys), ["0.0.9 (older)", version])
        XCTAssertTrue((mixed["warnings"] as? [String])?.contains { $0.contains("different Metron versions") } == true)
        let report = try MetronBinary.run(["report", search.path], executable: installed)
        XCTAssertEqual(report.status, 0, report.stderr)
        XCTAssertTrue(report.stdout.contains("measured by") && report.stdout.contains("0.0.9 (older)"), report.stdout)
        XCTAssertTrue(report.stdout.contains("sweep file SHA-256"), report.stdout)

        let uninstall = try make(["uninstall", "DESTDIR=\(destination.path)", "PREFIX=/usr"])
        XCTAssertEqual(uninstall.status, 0, uninstall.stderr)
        for path in ["bin/metron", "share/metron", "share/bash-completion/completions/metron", "share/zsh/site-functions/_metron"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: usr.appendingPathComponent(path).path), "\(path) is left")
        }
    }

    /// The build tree's metron finds the repository's plot script wherever it is run from.
    func testTheBuiltMetronFindsThePlotScriptFromAnyDirectory() throws {
        _ = try writeSweep(in: directory)
        let sweep = try MetronBinary.run(["sweep", "tiny.yaml", "--simulate"], directory: directory)
        XCTAssertEqual(sweep.status, 0, sweep.stderr)
        XCTAssertFalse(sweep.stderr.contains("plots skipped"), sweep.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory.appendingPathComponent("results/tiny-simulated/plots/capacity.png").path))
        let missing = try MetronBinary.run(["sweep", "tiny.yaml", "--simulate", "--plots-script", "nowhere.py"], directory: directory)
        XCTAssertTrue(missing.stderr.contains("plots skipped: nowhere.py not found"), "--plots-script still overrides:\n\(missing.stderr)")
    }

    /// Built from a tarball (no .git), the revision is "unknown revision".
    func testTheRevisionOfACopyWithoutGitIsUnknown() throws {
        let copy = directory.appendingPathComponent("metron-0.1.0")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        let output = directory.appendingPathComponent("SourceRevision.swift")
        let script = repository.appendingPathComponent("scripts/embed-revision.sh").path
        let result = try MetronBinary.run(["sh", script, copy.path, output.path], executable: URL(fileURLWithPath: "/usr/bin/env"))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(try String(contentsOf: output, encoding: .utf8).contains(#"let sourceRevision = "unknown revision""#))
        guard FileManager.default.fileExists(atPath: repository.appendingPathComponent(".git").path) else { return }
        let inRepository = try MetronBinary.run(["sh", script, repository.path, output.path], executable: URL(fileURLWithPath: "/usr/bin/env"))
        XCTAssertEqual(inRepository.status, 0)
        XCTAssertFalse(try String(contentsOf: output, encoding: .utf8).contains("unknown revision"), "a checkout knows its revision")
    }
}

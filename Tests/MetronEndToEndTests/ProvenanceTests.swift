import Foundation
import MetronTestSupport
import XCTest

/// run.json records who measured, how and against what, with secrets given on the command line masked.
final class ProvenanceTests: XCTestCase {
    private static let urlPassword = "pw-provenance-6b1f0c"
    private static let bodyKey = "sk-provenance-body-27ae90"
    private static let headerSecret = "hdr-provenance-e41d5a"

    func testARunRecordsItsProvenanceWithSecretsMasked() async throws {
        let server = try await Harness.startSimulator()
        let dir = try Harness.temporaryDirectory(self)
        let out = dir.appendingPathComponent("run")
        let secrets = [Self.urlPassword, Self.bodyKey, Self.headerSecret]
        let run = try MetronBinary.run([
            "run", "--url", "http://metron:\(Self.urlPassword)@127.0.0.1:\(server.port)", "--model", "llama-3-8b",
            "--rate", "20", "--duration", "0.3", "--arrival", "constant", "--output-length", "4", "--prompt-length", "20",
            "--tokens-per-word", "1", "--header", "X-Secret: \(Self.headerSecret)",
            "--extra-body", #"{"temperature":0,"api_key":"\#(Self.bodyKey)"}"#, "--out", out.path,
        ])
        try await server.stop()
        XCTAssertEqual(run.status, 0, run.stderr)

        let runJSON = try Data(contentsOf: out.appendingPathComponent("run.json"))
        for secret in secrets { XCTAssertNil(runJSON.range(of: Data(secret.utf8)), "run.json holds \(secret)") }
        let settings = try JSONSerialization.jsonObject(with: runJSON) as! [String: Any]
        let provenance = try XCTUnwrap(settings["provenance"] as? [String: Any])

        let version = try MetronBinary.run(["--version"])
        XCTAssertEqual(version.status, 0)
        let printed = version.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(printed.hasPrefix("0.") || printed.first?.isNumber == true, printed)
        XCTAssertEqual(provenance["metron_version"] as? String, printed, "--version is the string results record")

        let command = try XCTUnwrap(provenance["command_line"] as? [String])
        XCTAssertEqual(command.dropFirst().first, "run")
        XCTAssertTrue(command.contains("http://***@127.0.0.1:\(server.port)"), "\(command)")
        XCTAssertTrue(command.contains("X-Secret: ***"), "\(command)")
        XCTAssertTrue(command.contains(#"{"api_key":"***","temperature":0}"#), "\(command)")

        let formatter = ISO8601DateFormatter()
        let started = try XCTUnwrap((provenance["started_at"] as? String).flatMap(formatter.date(from:)))
        let ended = try XCTUnwrap((provenance["ended_at"] as? String).flatMap(formatter.date(from:)))
        XCTAssertLessThanOrEqual(started, ended)
        XCTAssertNil(provenance["sweep_file_sha256"], "a run has no sweep file")

        let client = try XCTUnwrap(provenance["client"] as? [String: Any])
        XCTAssertGreaterThan(client["cores"] as? Int ?? 0, 0)
        XCTAssertTrue((client["kernel"] as? String)?.hasPrefix("Linux") == true, "\(client)")
        XCTAssertNotNil(client["cpu_model"])
        XCTAssertEqual(client["realtime_requested"] as? Bool, true, "real-time priority is taken where allowed")
        XCTAssertEqual(client["realtime_granted"] as? Bool, try Self.mayUseRealtime())
        let lateness = try XCTUnwrap(provenance["timer_lateness_at_start"] as? [String: Any])
        XCTAssertGreaterThan(lateness["samples"] as? Int ?? 0, 0)

        // The simulator offers /v1/models and /metrics, not /version: the failure is recorded, not fatal.
        let servers = try XCTUnwrap(provenance["servers"] as? [[String: Any]])
        XCTAssertEqual(servers.count, 1)
        XCTAssertTrue((servers[0]["models"] as? String)?.contains("llama-3-8b") == true, "\(servers[0])")
        XCTAssertEqual(servers[0]["url"] as? String, "http://***@127.0.0.1:\(server.port)")
        XCTAssertTrue((servers[0]["failures"] as? [String])?.contains { $0.contains("/version") } == true, "\(servers[0])")

        let report = try MetronBinary.run(["report", out.path])
        XCTAssertEqual(report.status, 0, report.stderr)
        XCTAssertTrue(report.stdout.contains("measured by metron \(printed)"), report.stdout)
        XCTAssertTrue(report.stdout.contains("server server: http://***@127.0.0.1"), report.stdout)
        for secret in secrets { XCTAssertFalse(report.stdout.contains(secret)) }
    }

    /// A server that is not there: the run's records say so, and the provenance records the failures.
    func testAnUnreachableServerIsRecordedNotFatal() throws {
        let dir = try Harness.temporaryDirectory(self)
        let out = dir.appendingPathComponent("refused")
        let run = try MetronBinary.run([
            "run", "--url", "http://127.0.0.1:\(try Harness.closedPort())", "--model", "m", "--rate", "8", "--duration", "0.25",
            "--arrival", "constant", "--tokens-per-word", "1", "--out", out.path,
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        let settings = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("run.json"))) as! [String: Any]
        let servers = try XCTUnwrap((settings["provenance"] as? [String: Any])?["servers"] as? [[String: Any]])
        XCTAssertEqual((servers.first?["failures"] as? [String])?.count, 3, "\(servers)")
        XCTAssertNil(servers.first?["models"])
    }

    /// Whether a program started by the shell text `shell` (ending in `exec`) may take SCHED_FIFO, as `chrt` finds.
    static func mayUseRealtime(shell: String = "exec ") throws -> Bool {
        try MetronBinary.run(["-c", shell + "chrt -f 50 true"], executable: URL(fileURLWithPath: "/bin/bash")).status == 0
    }

    /// Without a flag the engine takes real-time priority where allowed and stays quiet where not;
    /// `--realtime` warns when refused; `--no-realtime` keeps normal priority. Each records which.
    func testRealtimePriorityIsTakenWhereAllowedAndRecorded() async throws {
        let server = try await Harness.startSimulator()
        let dir = try Harness.temporaryDirectory(self)
        // No CAP_SYS_NICE and no real-time rlimit: the kernel refuses SCHED_FIFO, even to root.
        let refused = "ulimit -r 0; [ $(id -u) = 0 ] && drop='setpriv --bounding-set=-sys_nice --inh-caps=-sys_nice'; exec $drop "
        XCTAssertFalse(try Self.mayUseRealtime(shell: refused), "the refusing shell must refuse")
        let cases: [(name: String, shell: String, flags: [String], requested: Bool, granted: Bool, warns: Bool)] = [
            ("default", "exec ", [], true, try Self.mayUseRealtime(), false),
            ("default, refused", refused, [], true, false, false),
            ("--realtime, refused", refused, ["--realtime"], true, false, true),
            ("--no-realtime", "exec ", ["--no-realtime"], false, false, false),
        ]
        for c in cases {
            let out = dir.appendingPathComponent(c.name.replacingOccurrences(of: " ", with: "_"))
            let arguments = ["run", "--url", server.url, "--model", "llama-3-8b", "--rate", "20", "--duration", "0.2",
                             "--output-length", "4", "--prompt-length", "20", "--tokens-per-word", "1", "--out", out.path] + c.flags
            let run = try MetronBinary.run(["-c", c.shell + #""$0" "$@""#, MetronBinary.url.path] + arguments,
                                           executable: URL(fileURLWithPath: "/bin/bash"))
            XCTAssertEqual(run.status, 0, "\(c.name): \(run.stderr)")
            let settings = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("run.json"))) as? [String: Any]
            let client = try XCTUnwrap((settings?["provenance"] as? [String: Any])?["client"] as? [String: Any], c.name)
            XCTAssertEqual(client["realtime_requested"] as? Bool, c.requested, c.name)
            XCTAssertEqual(client["realtime_granted"] as? Bool, c.granted, c.name)
            XCTAssertEqual(run.stderr.contains("real-time priority (SCHED_FIFO 50) was refused"), c.warns, "\(c.name): \(run.stderr)")
        }
        try await server.stop()
    }
}

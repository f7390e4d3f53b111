import Foundation
import MetronModel
import MetronLoad
import MetronReport
import MetronSim
import MetronTestSupport
import XCTest

/// API keys and other secrets never reach results, logs or messages; TLS is verified unless the user
/// says otherwise; the simulator listens on loopback unless told otherwise.
final class SecretsTests: XCTestCase {
    private static let envKey = "sk-metron-env-5f2c1e9a7b"
    private static let fileKey = "sk-metron-file-88d0b7c4e1"
    private static let urlPassword = "pw-metron-url-31c9aa02"
    private static let headerSecret = "hdr-metron-4e7d11bc90"

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
        var all: String { stdout + "\n" + stderr }
    }

    private static var binary: URL { MetronBinary.url }

    /// Runs the built binary with a clean environment plus `environment`; bounded by `limit` seconds.
    private func metron(_ arguments: [String], environment: [String: String] = [:], limit: Double = 60) async throws
        -> Outcome
    {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let watchdog = Task {
            try await Task.sleep(nanoseconds: UInt64(limit * 1e9))
            process.terminate()
        }
        async let stdout = Task.detached { out.fileHandleForReading.readDataToEndOfFile() }.value
        async let stderr = Task.detached { err.fileHandleForReading.readDataToEndOfFile() }.value
        let (o, e) = await (stdout, stderr)
        process.waitUntilExit()
        watchdog.cancel()
        XCTAssertNotEqual(process.terminationReason, .uncaughtSignal, "metron \(arguments.first ?? "") hung")
        return Outcome(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                       stderr: String(decoding: e, as: UTF8.self))
    }

    /// Every file under `directory` (results, logs, anything the run left), except `skipping`.
    private func assertNoSecret(_ secrets: [String], under directory: URL, skipping: Set<String> = [],
                                file: StaticString = #filePath, line: UInt = #line) throws -> Int
    {
        var checked = 0
        let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = walker?.nextObject() as? URL {
            guard (try url.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true,
                  !skipping.contains(url.lastPathComponent) else { continue }
            let data = try Data(contentsOf: url)
            for secret in secrets {
                XCTAssertNil(data.range(of: Data(secret.utf8)), "\(url.lastPathComponent) holds a secret",
                             file: file, line: line)
            }
            checked += 1
        }
        return checked
    }

    private func assertNoSecret(_ secrets: [String], in outcome: Outcome, file: StaticString = #filePath, line: UInt = #line) {
        for secret in secrets {
            XCTAssertFalse(outcome.all.contains(secret), "output holds a secret:\n\(outcome.all)", file: file, line: line)
        }
    }

    // MARK: keys through a whole run, and through failing runs

    /// A whole run against the simulator (prompt calibration included, and a third of the requests
    /// answered with errors) with a key from the environment, then one from a file, a password in the
    /// URL and a secret header value: the key is sent, and no file, line of output or error holds any of them.
    func testAPIKeysAreSentButNeverWrittenOrPrinted() async throws {
        var faults = FaultConfig()
        faults.errorRate = 0.3
        faults.disconnectRate = 0.2
        let server = try await Harness.startSimulator(faults: faults)
        let dir = try Harness.temporaryDirectory(self)
        let keyFile = dir.appendingPathComponent("key.txt")
        try (Self.fileKey + "\n").write(to: keyFile, atomically: true, encoding: .utf8)
        let secrets = [Self.envKey, Self.fileKey, Self.urlPassword, Self.headerSecret]
        let authority = "http://metron:\(Self.urlPassword)@127.0.0.1:\(server.port)"

        let common = ["--model", "llama-3-8b", "--rate", "20", "--duration", "0.5", "--output-length", "4",
                      "--prompt-length", "20", "--arrival", "constant", "--header", "X-Secret: \(Self.headerSecret)", "--timeout", "10"]
        let runs: [(String, [String], [String: String])] = [
            ("env", ["--url", server.url, "--api-key-env", "METRON_REL_KEY"], ["METRON_REL_KEY": Self.envKey]),
            ("file", ["--url", authority, "--api-key-file", keyFile.path], [:]),
        ]
        var records = 0
        for (name, flags, environment) in runs {
            let out = dir.appendingPathComponent("run-\(name)")
            let result = try await metron(["run"] + flags + common + ["--out", out.path], environment: environment)
            XCTAssertEqual(result.status, 0, result.stderr)
            assertNoSecret(secrets, in: result)
            XCTAssertTrue(result.stderr.contains("***@127.0.0.1") || name == "env", "the URL is shown without its password")
            let files = try assertNoSecret(secrets, under: out)
            XCTAssertEqual(files, 5, "requests.jsonl, requests.bin, summary.json, run.json, server_metrics.jsonl")
            let written = try RunDirectory.readRecords(from: out)
            XCTAssertEqual(written.count, 10)
            XCTAssertTrue(written.contains { $0.status == .httpError }, "error bodies were recorded too")
            records += written.count

            // `metron report` prints from the same files.
            let report = try await metron(["report", out.path])
            XCTAssertEqual(report.status, 0, report.stderr)
            assertNoSecret(secrets, in: report)
        }
        XCTAssertEqual(records, 20)
        try await server.stop()
    }

    /// A failing calibration, refused connections and bad flags given together with a key: the error
    /// messages never repeat it.
    func testFailuresAndBadFlagsNeverEchoASecret() async throws {
        let dir = try Harness.temporaryDirectory(self)
        let keyFile = dir.appendingPathComponent("key.txt")
        try Self.fileKey.write(to: keyFile, atomically: true, encoding: .utf8)
        let twoLines = dir.appendingPathComponent("two-lines.txt")
        try "\(Self.fileKey)\nsecond line".write(to: twoLines, atomically: true, encoding: .utf8)
        let port = try Harness.closedPort()
        let env = ["METRON_REL_KEY": Self.envKey]
        let secrets = [Self.envKey, Self.fileKey, Self.urlPassword, Self.headerSecret]
        let base = ["run", "--model", "m", "--duration", "1", "--out", dir.appendingPathComponent("out").path]
        let local = "http://127.0.0.1:\(port)"
        let cases: [(name: String, arguments: [String], status: Int32, says: String)] = [
            ("bad rate with a key from the environment",
             base + ["--url", local, "--rate", "-1", "--api-key-env", "METRON_REL_KEY"], 2, "--rate"),
            ("bad rate with a key file", base + ["--url", local, "--rate", "-1", "--api-key-file", keyFile.path], 2, "--rate"),
            ("both key sources", base + ["--url", local, "--rate", "1", "--api-key-env", "METRON_REL_KEY",
                                         "--api-key-file", keyFile.path], 2, "not both"),
            ("the key itself given as the variable's name",
             base + ["--url", local, "--rate", "1", "--api-key-env", Self.envKey], 2, "--api-key-env"),
            ("a key file of two lines",
             base + ["--url", local, "--rate", "4", "--tokens-per-word", "1", "--api-key-file", twoLines.path], 2,
             "one line"),
            ("a header without a colon",
             base + ["--url", local, "--rate", "1", "--header", "Authorization Bearer \(Self.headerSecret)"], 2, "--header"),
            ("a header of two lines",
             base + ["--url", local, "--rate", "1", "--header", "X-Key: \(Self.headerSecret)\nX-More: 1"], 2, "one line"),
            ("a URL that does not parse, with a password",
             base + ["--url", "ftp://metron:\(Self.urlPassword)@h", "--rate", "1"], 2, "--url"),
            ("calibration against a closed port, password in the URL",
             base + ["--url", "http://metron:\(Self.urlPassword)@127.0.0.1:\(port)", "--rate", "4",
                     "--api-key-env", "METRON_REL_KEY"], 1, "***@127.0.0.1"),
        ]
        for c in cases {
            let result = try await metron(c.arguments, environment: env)
            XCTAssertEqual(result.status, c.status, "\(c.name): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(c.says), "\(c.name): \(result.stderr)")
            assertNoSecret(secrets, in: result)
        }
        // No run got as far as writing results; whatever is there holds no secret.
        _ = try assertNoSecret(secrets, under: dir, skipping: ["key.txt", "two-lines.txt"])

        // A run whose every request is refused still writes its records, without the key.
        let out = dir.appendingPathComponent("refused")
        let refused = try await metron(["run", "--url", "http://metron:\(Self.urlPassword)@127.0.0.1:\(port)",
                                        "--model", "m", "--rate", "8", "--duration", "0.5", "--arrival", "constant", "--tokens-per-word", "1",
                                        "--api-key-file", keyFile.path, "--out", out.path])
        XCTAssertEqual(refused.status, 0, refused.stderr)
        assertNoSecret(secrets, in: refused)
        XCTAssertEqual(try assertNoSecret(secrets, under: out), 5, "with requests.bin and server_metrics.jsonl, whose failed scrapes name the URL without its password")
        let records = try RunDirectory.readRecords(from: out)
        XCTAssertEqual(records.count, 4)
        XCTAssertTrue(records.allSatisfy { $0.status == .connectionError })
    }

    func testCredentialsAreRemovedFromURLsInMessages() {
        XCTAssertEqual(ServerTarget.withoutCredentials("http://u:p@h:1/v1"), "http://***@h:1/v1")
        XCTAssertEqual(ServerTarget.withoutCredentials("https://token@h"), "https://***@h")
        XCTAssertEqual(ServerTarget.withoutCredentials("http://h:1/v1?x=a@b"), "http://h:1/v1?x=a@b")
        XCTAssertEqual(ServerTarget.withoutCredentials("ftp://u:p@q@h/x"), "ftp://***@h/x")
        XCTAssertEqual(ServerTarget.withoutCredentials("not a url"), "not a url")
        let target = ServerTarget(url: "http://u:secret@127.0.0.1:9", model: "m", apiKey: "sk-x")
        XCTAssertFalse(target.description.contains("secret") || target.description.contains("sk-x"), target.description)
    }

    // MARK: TLS

    /// An https:// URL to a plain-HTTP server fails the TLS handshake: a connection error, never a response.
    func testHTTPSToAPlainHTTPServerIsAConnectionError() async throws {
        let server = try await Harness.startSimulator()
        let plan = Harness.plan(count: 4)
        let result = try await Harness.run(
            Harness.generator(url: "https://127.0.0.1:\(server.port)"), plan: plan)
        try await server.stop()
        let summary = Harness.checkRecords(result, plan: plan)
        XCTAssertEqual(summary.errors["connection_error"], 4)
        XCTAssertTrue(result.records.allSatisfy { $0.httpStatus == nil && $0.chunkTimesS.isEmpty })
    }

    /// Against a TLS server with a self-signed certificate: refused by default (the certificate is
    /// verified), accepted with `--insecure`.
    func testCertificatesAreVerifiedUnlessInsecureIsGiven() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else {
            throw XCTSkip("needs /usr/bin/openssl for a TLS test server")
        }
        let dir = try Harness.temporaryDirectory(self)
        let key = dir.appendingPathComponent("key.pem").path, cert = dir.appendingPathComponent("cert.pem").path
        let make = Process()
        make.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        make.arguments = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                          "-subj", "/CN=127.0.0.1"]
        make.standardOutput = FileHandle.nullDevice
        make.standardError = FileHandle.nullDevice
        try make.run()
        make.waitUntilExit()
        XCTAssertEqual(make.terminationStatus, 0)

        let port = try Harness.closedPort()
        let tls = Process()
        tls.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        tls.arguments = ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", cert, "-key", key, "-www", "-quiet"]
        tls.standardOutput = FileHandle.nullDevice
        tls.standardError = FileHandle.nullDevice
        try tls.run()
        defer {
            kill(tls.processIdentifier, SIGKILL)   // s_server does not stop on SIGTERM
            tls.waitUntilExit()
        }
        try await waitForListener(port: port)

        let url = "https://127.0.0.1:\(port)"
        var verified: [String] = [], insecure: [String] = []
        for skip in [false, true] {
            let out = dir.appendingPathComponent(skip ? "insecure" : "verified")
            let result = try await metron(
                ["run", "--url", url, "--model", "m", "--rate", "4", "--duration", "0.5", "--arrival", "constant", "--tokens-per-word", "1",
                 "--connect-timeout", "3", "--first-token-timeout", "3", "--timeout", "5", "--out", out.path]
                    + (skip ? ["--insecure"] : []))
            XCTAssertEqual(result.status, 0, result.stderr)
            let records = try RunDirectory.readRecords(from: out)
            XCTAssertEqual(records.count, 2)
            XCTAssertTrue(records.allSatisfy { $0.status != .ok }, "s_server speaks no streaming API")
            if skip { insecure = records.compactMap(\.error) } else { verified = records.compactMap(\.error) }
        }
        XCTAssertEqual(verified.count, 2)
        XCTAssertTrue(verified.allSatisfy { $0.contains("certificate") }, "\(verified)")
        XCTAssertTrue(insecure.allSatisfy { !$0.contains("certificate") }, "--insecure skips the check: \(insecure)")

        let help = try await metron(["run", "--help"])
        XCTAssertTrue(help.stdout.contains("--insecure"))
    }

    private func waitForListener(port: Int) async throws {
        for _ in 0..<100 {
            if Self.listening(port: port) { return }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        XCTFail("nothing listens on \(port)")
    }

    // MARK: bind address

    /// The listening sockets of this machine on `port`, as `address:port` in /proc/net/tcp{,6}'s hex.
    private static func listeners(port: Int) -> [String] {
        var found: [String] = []
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                guard fields.count > 3, fields[3] == "0A" else { continue }   // 0A: LISTEN
                let local = fields[1].split(separator: ":")
                if local.count == 2, Int(local[1], radix: 16) == port { found.append(String(fields[1])) }
            }
        }
        return found
    }

    private static func listening(port: Int) -> Bool { !listeners(port: port).isEmpty }

    func testTheSimulatorListensOnLoopbackByDefault() async throws {
        let server = try await SimulatorServer.start(SimulatorServerOptions(simulator: Harness.simulatorConfig()))
        XCTAssertTrue(server.url.hasPrefix("http://127.0.0.1:"), server.url)
        XCTAssertEqual(Self.listeners(port: server.port).map { $0.prefix(8) }, ["0100007F"], "bound to 127.0.0.1 only")
        try await server.stop()

        // The command, with no --host.
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["serve-sim", "--port", "0"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        let line = await Task.detached { () -> String in
            var bytes = Data()
            while !bytes.contains(UInt8(ascii: "\n")) {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                bytes.append(chunk)
            }
            return String(decoding: bytes, as: UTF8.self)
        }.value
        let match = try XCTUnwrap(line.range(of: #"http://127\.0\.0\.1:\d+"#, options: .regularExpression), line)
        let port = try XCTUnwrap(Int(line[match].split(separator: ":").last ?? ""))
        XCTAssertEqual(Self.listeners(port: port).map { $0.prefix(8) }, ["0100007F"], "serve-sim binds 127.0.0.1")
    }
}

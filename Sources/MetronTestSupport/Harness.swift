import Foundation
import MetronModel
import MetronLoad
import MetronSim
import MetronSimModel
import XCTest

/// Shared set-up: a fast in-process simulator, identical planned requests, and a run bounded by a
/// hang guard.
public enum Harness {
    /// Llama-3-8B on one H100: a short prompt's prefill and each decode take a few milliseconds.
    public static func simulatorConfig(seed: UInt64 = 11) -> SimulatorConfig {
        SimulatorConfig(hardware: .h100, model: .llama3_8b, scheduler: SchedulerConfig(kind: .sarathi), seed: seed)
    }

    public static func startSimulator(faults: FaultConfig = .none, seed: UInt64 = 11) async throws -> SimulatorServer {
        try await SimulatorServer.start(SimulatorServerOptions(simulator: simulatorConfig(seed: seed), faults: faults))
    }

    /// `count` identical requests, `spacing` seconds apart: every request's outcome depends only on the
    /// fault the server draws for it, never on which request it is.
    public static func plan(count: Int, spacing: Double = 0.02, promptTokens: Int = 16, outputTokens: Int = 8)
        -> [PlannedRequest]
    {
        (0..<count).map {
            PlannedRequest(id: $0, arrival: Double($0) * spacing, promptTokens: promptTokens, outputTokens: outputTokens)
        }
    }

    public static func generator(url: String, timeouts: RequestTimeouts = RequestTimeouts(connect: 2, firstToken: 5, total: 10),
                          drainTimeout: Double? = nil, insecure: Bool = false) -> LoadGenerator
    {
        LoadGenerator(
            target: ServerTarget(url: url, model: "llama-3-8b", insecure: insecure), shape: RequestShape(ignoreEOS: true),
            prompts: PromptBuilder(tokensPerWord: 1),
            options: LoadOptions(timeouts: timeouts, drainTimeout: drainTimeout, calibrationWakeups: 5))
    }

    /// The hang guard: a run that has not returned after `limit` seconds fails the test (it is not a
    /// performance bound: every run here needs well under a tenth of it).
    public static let hangLimit = 30.0

    public static func run(_ generator: LoadGenerator, plan: [PlannedRequest], limit: Double = hangLimit,
                    onProgress: (@Sendable (LoadProgress) -> Void)? = nil,
                    file: StaticString = #filePath, line: UInt = #line) async throws -> LoadResult
    {
        let started = Date()
        let run = Task { try await generator.run(plan: plan, onProgress: onProgress) }
        let guardTask = Task {
            try await Task.sleep(nanoseconds: UInt64(limit * 1e9))
            run.cancel()
        }
        let result = try await run.value
        guardTask.cancel()
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertLessThan(elapsed, limit, "the run hung: still going after \(limit) s", file: file, line: line)
        return result
    }

    /// Checks the invariants of every run: one record per planned request, and a summary whose error
    /// counts by kind are the records' own counts.
    @discardableResult
    public static func checkRecords(_ result: LoadResult, plan: [PlannedRequest],
                             file: StaticString = #filePath, line: UInt = #line) -> RunSummary
    {
        XCTAssertEqual(result.records.map(\.id), plan.map(\.id).sorted(), "one record per planned request",
                       file: file, line: line)
        let summary = RunSummary(records: result.records, targetRate: nil, deadlines: .referenceDefault)
        var expected: [String: Int] = [:]
        for r in result.records where r.status != .ok { expected[r.status.rawValue, default: 0] += 1 }
        XCTAssertEqual(summary.errors.filter { $0.value > 0 }, expected, "summary errors by kind", file: file, line: line)
        XCTAssertEqual(summary.requests, plan.count, file: file, line: line)
        XCTAssertEqual(summary.ok, result.records.filter { $0.status == .ok }.count, file: file, line: line)
        for r in result.records {
            if r.status == .ok {
                XCTAssertNil(r.error, "record \(r.id)", file: file, line: line)
            } else {
                XCTAssertNotNil(r.error, "record \(r.id) (\(r.status)) says why", file: file, line: line)
            }
            XCTAssertEqual(r.chunkTimesS.count, r.chunkTokens.count, file: file, line: line)
            XCTAssertEqual(r.chunkTimesS, r.chunkTimesS.sorted(), "chunk times in order", file: file, line: line)
        }
        return summary
    }

    public static func counts(_ records: [RequestRecord]) -> [RequestStatus: Int] {
        records.reduce(into: [:]) { $0[$1.status, default: 0] += 1 }
    }

    /// A loopback port where nothing listens: bound by a socket that is closed again at once.
    public static func closedPort() throws -> Int {
        let (fd, port) = try bindLoopback(listening: false)
        close(fd)
        return port
    }

    public static func temporaryDirectory(_ test: XCTestCase) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("metron-rel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }
}

/// A loopback listener that accepts TCP connections (in the kernel's backlog) and never answers: a
/// server that hangs.
public final class SilentListener {
    public let port: Int
    private let fd: Int32

    public init() throws {
        (fd, port) = try bindLoopback(listening: true)
    }

    deinit { close(fd) }
}

/// A TCP socket bound to a free port of 127.0.0.1, listening when asked; the caller closes it.
private func bindLoopback(listening: Bool) throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EIO) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa -> Bool in
            bind(fd, sa, length) == 0 && (!listening || listen(fd, 128) == 0) && getsockname(fd, sa, &length) == 0
        }
    }
    guard ok else {
        close(fd)
        throw POSIXError(.EADDRINUSE)
    }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

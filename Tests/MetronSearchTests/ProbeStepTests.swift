import Foundation
import MetronLoad
import MetronModel
import MetronReport
import MetronSearch
@testable import MetronSweep
import MetronTestSupport
import XCTest

/// A probe's srun step (`--launcher srun`): the file its tasks read holds no secret, two tasks send
/// the plan exactly once between them, and a task that cannot run says why.
final class ProbeStepTests: XCTestCase {
    private func step(url: String = "http://127.0.0.1:1", clients: Int = 2, plan: [PlannedRequest] = Harness.plan(count: 12))
        -> (ProbeStep, ServerTarget)
    {
        var generator = Harness.generator(url: url)
        generator.target.apiKey = "sk-very-secret"
        generator.target.headers = ["X-Tenant: hush-hush"]
        let step = ProbeStep(clients: clients, generator: generator, scrape: nil, rate: 50, seed: 9, plan: plan,
                             windowStartS: 0, windowEndS: 1)
        return (step, generator.target)
    }

    func testTheStepFileHoldsNoSecretAndReadsBack() throws {
        let directory = try Harness.temporaryDirectory(self)
        let (step, target) = step()
        try step.write(to: directory)
        let text = try String(contentsOf: directory.appendingPathComponent(ProbeStep.fileName), encoding: .utf8)
        XCTAssertFalse(text.contains("sk-very-secret") || text.contains("hush-hush"), text)
        XCTAssertTrue(text.contains("X-Tenant"), "header names are kept")
        XCTAssertEqual(try ProbeStep.read(from: directory), step)
        XCTAssertTrue(try ProbeStep.credentials(of: target).contains("sk-very-secret"))
    }

    func testTwoTasksSendThePlanOnceBetweenThem() async throws {
        let server = try await Harness.startSimulator()
        let directory = try Harness.temporaryDirectory(self)
        let plan = Harness.plan(count: 20, spacing: 0.01)
        let (step, target) = step(url: server.url, plan: plan)
        try step.write(to: directory)
        let credentials = try ProbeStep.credentials(of: target)
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for rank in 0..<2 {
                group.addTask {
                    try await ProbeStep.runTask(
                        in: directory, environment: ["SLURM_PROCID": "\(rank)", ProbeStep.credentialsVariable: credentials], log: { _ in })
                }
            }
            for try await interrupted in group { XCTAssertFalse(interrupted) }
        }
        try await server.stop()
        let merged = try ShardMerge(directory: directory).run()
        XCTAssertEqual(merged.settings.merged?.map(\.index), [0, 1])
        let records = try RecordsFile.read(RunDirectory.recordsURL(in: directory)).sorted { $0.id < $1.id }
        XCTAssertEqual(records.map(\.id), plan.map(\.id))
        XCTAssertEqual(records.map(\.scheduledS), plan.map(\.arrival))
        XCTAssertEqual(records.filter { $0.status == .ok }.count, plan.count)
    }

    func testATaskThatCannotRunSaysWhy() async throws {
        let directory = try Harness.temporaryDirectory(self)
        let cases: [(setUp: () throws -> Void, environment: [String: String], expected: String)] = [
            ({}, ["SLURM_PROCID": "0"], "no such file"),
            ({ try Data("{\"clients\": 2}".utf8).write(to: directory.appendingPathComponent(ProbeStep.fileName)) },
             ["SLURM_PROCID": "0"], "not a probe step"),
            ({ try self.step().0.write(to: directory) }, [:], "SLURM_PROCID is not set"),
            ({ try self.step().0.write(to: directory) }, ["SLURM_PROCID": "2"], "SLURM_PROCID 2 of 2 clients"),
            ({ try self.step().0.write(to: directory) }, ["SLURM_PROCID": "1", ProbeStep.credentialsVariable: "sk-raw-key"],
             "\(ProbeStep.credentialsVariable) is not what the searching process sets"),
        ]
        for (setUp, environment, expected) in cases {
            try setUp()
            do {
                _ = try await ProbeStep.runTask(in: directory, environment: environment, log: { _ in })
                XCTFail("expected an error containing '\(expected)'")
            } catch let error as ProbeStepError {
                XCTAssertTrue(error.description.contains(expected), error.description)
                XCTAssertFalse(error.description.contains("sk-raw-key"), "a secret is never repeated")
            }
        }
    }
}

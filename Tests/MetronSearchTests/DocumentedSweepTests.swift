import Foundation
import MetronModel
import MetronSearch
import MetronSweep
import XCTest

/// The sweep file documented in docs/SEARCH.md must be valid as written.
final class DocumentedSweepTests: XCTestCase {
    func testTheDocumentedExampleIsValid() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/SEARCH.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        let start = try XCTUnwrap(text.range(of: "```yaml\n"))
        let end = try XCTUnwrap(text.range(of: "\n```", range: start.upperBound..<text.endIndex))
        let yaml = String(text[start.upperBound..<end.lowerBound])

        let root = FileManager.default.temporaryDirectory.appendingPathComponent("metron-doc-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let sweeps = root.appendingPathComponent("sweeps"), traces = root.appendingPathComponent("traces")
        try FileManager.default.createDirectory(at: sweeps, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: traces, withIntermediateDirectories: true)
        try "num_prefill_tokens,num_decode_tokens,num_total_tokens,pd_ratio\n1000,200,1200,5\n"
            .write(to: traces.appendingPathComponent("arxiv.csv"), atomically: true, encoding: .utf8)

        let sweep = try SweepFile.parse(yaml, file: "SEARCH.md", baseDirectory: sweeps, environment: ["PROD_API_KEY": "k"])
        XCTAssertEqual(sweep.systems.count, 2)
        XCTAssertEqual(sweep.workloads.count, 2)
        XCTAssertEqual(sweep.slos.count, 2)
        XCTAssertEqual(sweep.search, SearchSettings(), "the documented search settings are the defaults")
        XCTAssertEqual(sweep.validity, ValidityRules(), "the documented probe settings are the defaults")
        let strictest = sweep.slos.map(\.kind.attainmentLevel).max() ?? 0
        XCTAssertEqual(sweep.probe, ProbeWindow().resolved(forLevel: strictest), "sized for the strictest SLO")
        XCTAssertEqual(sweep.prefill, PrefillLadder.standard)
    }
}

import MetronModel
import XCTest

final class SharedPrefixTests: XCTestCase {
    let lengths = LengthSource.distributions(prompt: .uniform(min: 1100, max: 3000), output: .fixed(64))

    func testTheFractionOfRequestsBeginsWithOneOfTheCountPrefixes() throws {
        let spec = WorkloadSpec(lengths: lengths, sharedPrefix: SharedPrefix(count: 4, tokens: 1024, fraction: 0.9), seed: 3)
        let plan = try spec.plan(rate: 50, duration: 100)
        let shared = plan.compactMap(\.sharedPrefix)
        XCTAssertEqual(Double(shared.count) / Double(plan.count), 0.9, accuracy: 0.02)
        XCTAssertEqual(Set(shared.map(\.index)), [0, 1, 2, 3])
        XCTAssertTrue(shared.allSatisfy { $0.tokens == 1024 })
        for index in 0..<4 {
            XCTAssertEqual(Double(shared.filter { $0.index == index }.count) / Double(shared.count), 0.25, accuracy: 0.03)
        }
    }

    func testPrefixesChangeNeitherArrivalsNorLengths() throws {
        let plain = WorkloadSpec(lengths: lengths, seed: 5)
        var prefixed = plain
        prefixed.sharedPrefix = SharedPrefix(count: 2, tokens: 512, fraction: 0.5)
        let a = try plain.plan(rate: 10, duration: 30), b = try prefixed.plan(rate: 10, duration: 30)
        XCTAssertEqual(a.map(\.arrival), b.map(\.arrival))
        XCTAssertEqual(a.map(\.promptTokens), b.map(\.promptTokens))
        XCTAssertEqual(a.map(\.outputTokens), b.map(\.outputTokens))
        XCTAssertTrue(a.allSatisfy { $0.sharedPrefix == nil })
        // The same seed gives the same prefixes at every rate, so pairs of probes stay paired.
        let faster = try prefixed.plan(rate: 20, duration: 30)
        XCTAssertEqual(b.map(\.sharedPrefix), Array(faster.prefix(b.count).map(\.sharedPrefix)))
    }

    func testFractionZeroAndOne() throws {
        var spec = WorkloadSpec(lengths: lengths, sharedPrefix: SharedPrefix(count: 1, tokens: 100, fraction: 0))
        XCTAssertTrue(try spec.plan(rate: 10, duration: 10).allSatisfy { $0.sharedPrefix == nil })
        spec.sharedPrefix?.fraction = 1
        XCTAssertTrue(try spec.plan(rate: 10, duration: 10).allSatisfy { $0.sharedPrefix == PlannedPrefix(index: 0, tokens: 100) })
    }

    func testAPrefixLongerThanAPromptIsRefusedNamingTheRequest() {
        let spec = WorkloadSpec(lengths: .trace([TraceRow(promptTokens: 2000, outputTokens: 10), TraceRow(promptTokens: 800, outputTokens: 10)]),
                                sharedPrefix: SharedPrefix(count: 1, tokens: 1024, fraction: 1))
        XCTAssertThrowsError(try spec.plan(rate: 10, duration: 10)) { error in
            XCTAssertTrue("\(error)".contains("a shared prefix of 1024 tokens does not fit in the prompt of request"), "\(error)")
            XCTAssertTrue("\(error)".contains("(800 tokens)"), "\(error)")
        }
    }

    func testBadValuesAreRefusedNamingTheField() {
        for (text, expected) in [
            ("4:1024:1.5", "fraction must be between 0 and 1, got 1.5"),
            ("4:1024:-0.1", "fraction must be between 0 and 1, got -0.1"),
            ("0:1024:0.5", "count must be at least 1, got 0"),
            ("4:0:0.5", "tokens must be at least 1, got 0"),
            ("4:1024", "a shared prefix is COUNT:TOKENS:FRACTION"),
            ("four:1024:0.5", "a shared prefix is COUNT:TOKENS:FRACTION"),
        ] {
            XCTAssertThrowsError(try SharedPrefix(parsing: text), text) { XCTAssertTrue("\($0)".contains(expected), "\(text): \($0)") }
        }
        XCTAssertEqual(try SharedPrefix(parsing: "4:1024:0.9"), SharedPrefix(count: 4, tokens: 1024, fraction: 0.9))
        let spec = WorkloadSpec(sharedPrefix: SharedPrefix(count: 1, tokens: 10, fraction: 2))
        XCTAssertThrowsError(try spec.plan(rate: 1, duration: 10)) { XCTAssertTrue("\($0)".contains("shared prefix: fraction"), "\($0)") }
    }
}

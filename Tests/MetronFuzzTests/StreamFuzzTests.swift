import Foundation
@testable import MetronLoad
import MetronTestSupport
import XCTest

/// Seeded fuzzing of what reads a server's stream: no crash, and a scan whatever the bytes.
final class StreamFuzzTests: XCTestCase {
    static let stream = Array("""
        : keep-alive\r
        event: message\r
        data: {"id":"c1","choices":[{"index":0,"delta":{"role":"assistant"}}]}\r
        \r
        data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Hello"}}]}

        data: {"id":"c1","choices":[{"index":0,"text":" world","finish_reason":"length"}],"usage":{"prompt_tokens":12,"completion_tokens":2}}

        data: {"id":"c1","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14}}

        data: [DONE]


        """.utf8)

    /// The scanner keeps nothing but the current line and event: fed any bytes in any splits, it
    /// emits events whose data is at most what it was fed, and the chunk scan reads each of them.
    func testSSEAndChunkScannersOnMutatedStreams() {
        let mutator = Mutator(seed: 505)
        var events = 0, contents = 0
        for i in 0..<Mutator.iterations {
            let input = i % 7 == 0 ? mutator.noise(maxLength: 400) : mutator.mutate(Self.stream)
            var scanner = SSEScanner(maxLineBytes: 256)
            var position = 0
            var emitted: [SSEScanner.Event] = []
            while position < input.count {
                let end = min(input.count, position + mutator.integer(1...64))
                scanner.feed(Array(input[position..<end])) { emitted.append($0) }
                position = end
            }
            scanner.finish { emitted.append($0) }
            for event in emitted {
                XCTAssertLessThanOrEqual(event.data.count, input.count)
                let facts = ChunkScanner.scan(event.data)
                if facts.hasContent { contents += 1 }
                assertCountsAreWritten(facts, in: event.data)
            }
            events += emitted.count
        }
        XCTAssertGreaterThan(events, Mutator.iterations, "most mutated streams still carry events")
        XCTAssertGreaterThan(contents, 0)
    }

    /// Counts the scanner reports must be written in the chunk; when a mutation leaves the usage
    /// object intact and unambiguous, they must be exactly its numbers.
    func testChunkScannerOnMutatedChunks() {
        let mutator = Mutator(seed: 606)
        let usage = Array(#"],"usage":{"prompt_tokens":12,"completion_tokens":3}}"#.utf8)
        let chunk = Array(#"{"id":"c1","choices":[{"index":0,"delta":{"content":"Hi \"there\""}}"#.utf8) + usage
        var intact = 0
        for _ in 0..<Mutator.iterations {
            let input = mutator.mutate(chunk)
            let facts = ChunkScanner.scan(input)
            assertCountsAreWritten(facts, in: input)
            let keys = [#""usage""#, #""prompt_tokens""#, #""completion_tokens""#, #""error""#].map { occurrences(of: $0, in: input) }
            if input.first == UInt8(ascii: "{"), input.suffix(usage.count).elementsEqual(usage), keys == [1, 1, 1, 0] {
                intact += 1
                let text = String(decoding: input, as: UTF8.self)
                XCTAssertEqual(facts.kind, .chunk, text)
                XCTAssertEqual(facts.promptTokens, 12, text)
                XCTAssertEqual(facts.completionTokens, 3, text)
            }
        }
        XCTAssertGreaterThan(intact, Mutator.iterations / 10, "many mutations leave the usage object alone")
    }

    /// A count the scanner reports must appear in the input after its key (digits never invented).
    func assertCountsAreWritten(_ facts: ChunkFacts, in input: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
        for (key, count) in [("prompt_tokens", facts.promptTokens), ("completion_tokens", facts.completionTokens)] {
            guard let count else { continue }
            let text = String(decoding: input, as: UTF8.self)
            guard let keyEnd = input.firstRange(of: Array("\"\(key)\"".utf8))?.upperBound else {
                XCTFail("\(key) \(count) reported, but the key is not in: \(text)", file: file, line: line)
                continue
            }
            XCTAssertNotNil(input[keyEnd...].firstRange(of: Array(String(count).utf8)),
                            "\(key) \(count) is not written after its key in: \(text)", file: file, line: line)
        }
    }

    func occurrences(of word: String, in input: [UInt8]) -> Int {
        let w = Array(word.utf8)
        guard input.count >= w.count else { return 0 }
        return (0...(input.count - w.count)).filter { input[$0..<$0 + w.count].elementsEqual(w) }.count
    }
}

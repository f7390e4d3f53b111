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
                if let t = facts.completionTokens { XCTAssertGreaterThanOrEqual(t, 0) }
            }
            events += emitted.count
        }
        XCTAssertGreaterThan(events, Mutator.iterations, "most mutated streams still carry events")
        XCTAssertGreaterThan(contents, 0)
    }

    func testChunkScannerOnMutatedChunks() {
        let mutator = Mutator(seed: 606)
        let chunk = Array(#"{"id":"c1","choices":[{"index":0,"delta":{"content":"Hi \"there\""}}],"usage":{"prompt_tokens":12,"completion_tokens":3}}"#.utf8)
        for _ in 0..<Mutator.iterations {
            let facts = ChunkScanner.scan(mutator.mutate(chunk))
            if let p = facts.promptTokens { XCTAssertGreaterThanOrEqual(p, 0) }
        }
    }
}

import MetronTestSupport
import XCTest
@testable import MetronLoad

final class SSEScannerTests: XCTestCase {
    typealias Event = SSEScanner.Event

    /// Every line-ending style, comments, event names, multi-line data, an unknown field and an
    /// event without its final blank line.
    static let mixedStream = Array((
        ": keep-alive\n\n"
            + "data: {\"a\":1}\n\n"
            + "event: message\r\ndata: {\"b\":2}\r\n\r\n"
            + "data: line one\rdata: line two\r\r"
            + "id: 7\nretry: 100\ndata:no-space\n\n"
            + ":comment\r\n\r\n"
            + "event: ping\n\n"
            + "data: [DONE]\n\n"
            + "data: tail"
    ).utf8)

    static let expected: [Event] = [
        Event(data: Array(#"{"a":1}"#.utf8)),
        Event(name: "message", data: Array(#"{"b":2}"#.utf8)),
        Event(data: Array("line one\nline two".utf8)),
        Event(data: Array("no-space".utf8)),
        Event(data: Array("[DONE]".utf8)),
        Event(data: Array("tail".utf8)),
    ]

    private func scan(_ pieces: [[UInt8]]) -> [Event] {
        var scanner = SSEScanner()
        var events: [Event] = []
        for piece in pieces { scanner.feed(piece) { events.append($0) } }
        scanner.finish { events.append($0) }
        return events
    }

    func testWholeStream() {
        XCTAssertEqual(scan([Self.mixedStream]), Self.expected)
    }

    func testByteByByte() {
        XCTAssertEqual(scan(Self.mixedStream.map { [$0] }), Self.expected)
    }

    func testRandomSplitsAreSeededAndAgree() {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<300 {
            var pieces: [[UInt8]] = []
            var i = 0
            while i < Self.mixedStream.count {
                let n = Int(rng.next() % 9) + 1
                pieces.append(Array(Self.mixedStream[i..<min(i + n, Self.mixedStream.count)]))
                i += n
            }
            XCTAssertEqual(scan(pieces), Self.expected, "split \(pieces.map(\.count))")
        }
    }

    func testCRLFSplitBetweenCRAndLFDoesNotMakeABlankLine() {
        // "data: x\r" then "\ndata: y\r\n\r\n": the LF belongs to the CR, so x and y are one event.
        let events = scan([Array("data: x\r".utf8), Array("\ndata: y\r\n\r\n".utf8)])
        XCTAssertEqual(events, [Event(data: Array("x\ny".utf8))])
    }

    func testEventNameWithoutDataIsDropped() {
        XCTAssertEqual(scan([Array("event: ping\n\ndata: 1\n\n".utf8)]), [Event(data: Array("1".utf8))])
    }

    func testOverlongLineIsCut() {
        var scanner = SSEScanner(maxLineBytes: 8)
        var events: [Event] = []
        scanner.feed(Array("data: 0123456789\n\n".utf8)) { events.append($0) }
        XCTAssertTrue(scanner.overlongLine)
        XCTAssertEqual(events, [Event(data: Array("01".utf8))])
    }
}

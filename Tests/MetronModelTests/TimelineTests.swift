import MetronModel
import XCTest

final class TimelineTests: XCTestCase {
    func testMultiTokenChunksRepeatTheirTime() throws {
        let t = TokenTimeline(arrival: 1.0, chunkTimes: [1.5, 1.6, 2.0], chunkTokens: [1, 3, 2])
        XCTAssertEqual(t.tokenCount, 6)
        let x = t.interTokenTimes
        XCTAssertEqual(x.count, 6)
        for (got, want) in zip(x, [0.5, 0.1, 0, 0, 0.4, 0]) { XCTAssertEqual(got, want, accuracy: 1e-12) }
        XCTAssertEqual(try XCTUnwrap(t.ttft), 0.5, accuracy: 1e-12)
        XCTAssertEqual(t.tokenLevelTBT.count, 5)
        XCTAssertEqual(t.interChunkLatencies.count, 2)
        for (got, want) in zip(t.interChunkLatencies, [0.1, 0.4]) { XCTAssertEqual(got, want, accuracy: 1e-12) }
        XCTAssertEqual(try XCTUnwrap(t.tpot), 0.5 / 5, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(t.endToEnd), 1.0, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(t.normalizedLatency), 1.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(t.outputThroughput), 6, accuracy: 1e-9)
    }

    func testEmptyAndOneTokenRequests() {
        let empty = TokenTimeline(arrival: 0, chunkTimes: [], chunkTokens: [])
        XCTAssertEqual(empty.interTokenTimes, [])
        XCTAssertNil(empty.ttft)
        XCTAssertNil(empty.tpot)
        XCTAssertNil(empty.endToEnd)
        XCTAssertNil(empty.normalizedLatency)
        XCTAssertNil(empty.outputThroughput)

        let one = TokenTimeline(arrival: 2, chunkTimes: [2.25], chunkTokens: [1])
        XCTAssertEqual(one.interTokenTimes, [0.25])
        XCTAssertEqual(one.tokenLevelTBT, [])
        XCTAssertNil(one.tpot, "TPOT needs two tokens")
        XCTAssertEqual(one.normalizedLatency, 0.25)
    }

    func testTTFTIsMeasuredFromTheScheduledArrivalNotTheSend() throws {
        let record = RequestRecord(id: 0, scheduledS: 10, sentS: 10.2, chunkTimesS: [10.5], chunkTokens: [1])
        XCTAssertEqual(try XCTUnwrap(record.timeline.ttft), 0.5, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(record.clientLag), 0.2, accuracy: 1e-12)
    }
}

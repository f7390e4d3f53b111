import MetronModel
import MetronSearch
import MetronSweep
import XCTest

/// The gate with fake holders: tasks that enter when they are started and leave when told. Waiting for
/// a state is a loop of yields, never a sleep.
final class SearchGateTests: XCTestCase {
    /// Holders in the order they got in.
    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var names: [Int] = []
        func add(_ order: Int) { lock.withLock { names.append(order) } }
        var all: [Int] { lock.withLock { names } }
    }

    func until(_ condition: () async -> Bool) async {
        while await !condition() { await Task.yield() }
    }

    /// A holder that enters with `order` and logs when it is in.
    func holder(_ gate: SearchGate, _ order: Int, _ log: Log) -> Task<Void, Never> {
        Task {
            await gate.enter(order)
            log.add(order)
        }
    }

    func testAtMostTheLimitGetInAndTheRestWait() async {
        let gate = SearchGate(limit: 2)
        let log = Log()
        let tasks = (0..<5).map { holder(gate, $0, log) }
        await until { await gate.waiting == 3 && log.all.count == 2 }
        let running = await gate.running
        XCTAssertEqual(running, 2)
        await gate.leave()
        await until { log.all.count == 3 }
        let afterOne = (await gate.running, await gate.waiting)
        XCTAssertEqual(afterOne.0, 2, "the one let in is counted at once")
        XCTAssertEqual(afterOne.1, 2)
        await gate.leave()
        await gate.leave()
        await gate.leave()
        for task in tasks { await task.value }
        XCTAssertEqual(Set(log.all), Set(0..<5))
        let end = (await gate.running, await gate.waiting)
        XCTAssertEqual(end.0, 1, "five in, four out")
        XCTAssertEqual(end.1, 0)
    }

    func testTheLowestOrderGoesFirstWhateverTheArrival() async {
        let gate = SearchGate(limit: 1)
        let log = Log()
        await gate.enter(0)
        // Arrivals out of order, each one waiting before the next comes.
        var tasks: [Task<Void, Never>] = []
        for order in [3, 1, 2] {
            let waiting = await gate.waiting
            tasks.append(holder(gate, order, log))
            await until { await gate.waiting == waiting + 1 }
        }
        for expected in [1, 2, 3] {
            await gate.leave()
            await until { log.all.last == expected }
            XCTAssertEqual(log.all, Array(1...expected))
        }
        for task in tasks { await task.value }
    }

    func testARequestHoldsItsPlaceBeforeItsHolderArrives() async {
        let gate = SearchGate(limit: 1)
        let log = Log()
        // Requested in order before anyone arrives: 0 is let in at once, 1 and 2 queue.
        for order in 0..<3 { await gate.request(order) }
        // Asking twice for a place changes nothing.
        await gate.request(1)
        await gate.request(0)
        let queued = (await gate.running, await gate.waiting)
        XCTAssertEqual(queued.0, 1)
        XCTAssertEqual(queued.1, 2)
        // 2 may arrive before 0 and 1: it waits all the same; 0 finds itself already in.
        let late = holder(gate, 2, log)
        await until { await gate.waiting == 2 && log.all.isEmpty }
        await gate.enter(0)
        await gate.leave()
        // 1 got the place, though its holder is not there yet; 2 still waits.
        let stillWaiting = await gate.waiting
        XCTAssertEqual(stillWaiting, 1)
        XCTAssertEqual(log.all, [])
        await gate.enter(1)
        await gate.leave()
        await late.value
        XCTAssertEqual(log.all, [2])
    }

    func testLoweringHoldsBackOnlyThoseLetInAfterwards() async {
        let gate = SearchGate(limit: 3)
        let log = Log()
        for order in 0..<3 { await gate.enter(order) }
        let lowered = await gate.lower()
        XCTAssertEqual(lowered, 2)
        // Three still inside: none is put out.
        let inside = await gate.running
        XCTAssertEqual(inside, 3)
        let next = holder(gate, 3, log)
        await until { await gate.waiting == 1 }
        await gate.leave()
        // Two inside, limit 2: still no room.
        let stillWaiting = await gate.waiting
        XCTAssertEqual(stillWaiting, 1)
        XCTAssertEqual(log.all, [])
        await gate.leave()
        await next.value
        XCTAssertEqual(log.all, [3])
        let running = await gate.running
        XCTAssertEqual(running, 2)
    }

    func testTheLimitNeverGoesBelowOne() async {
        let gate = SearchGate(limit: 2)
        let first = await gate.lower()
        let second = await gate.lower()
        let third = await gate.lower()
        XCTAssertEqual(first, 1)
        XCTAssertNil(second)
        XCTAssertNil(third)
        let limit = await gate.limit
        XCTAssertEqual(limit, 1)
        let zero = SearchGate(limit: 0)
        let zeroLimit = await zero.limit
        XCTAssertEqual(zeroLimit, 1, "a limit below 1 is taken as 1")
        await zero.enter(0)
        let running = await zero.running
        XCTAssertEqual(running, 1)
    }
}

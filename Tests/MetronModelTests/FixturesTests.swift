import MetronTestSupport
import XCTest

/// The fixture locator itself: tests read only inside the checkout, and a missing file is one clear failure.
final class FixturesTests: XCTestCase {
    func testFixturesLiveInsideTheCheckout() throws {
        XCTAssertEqual(Fixtures.directory.lastPathComponent, "Fixtures")
        XCTAssertEqual(Fixtures.directory.deletingLastPathComponent().lastPathComponent, "Tests")
        XCTAssertNoThrow(try Fixtures.url("README.md"))
    }

    func testAMissingFixtureThrowsNamingItsPath() {
        XCTAssertThrowsError(try Fixtures.lines("golden/no_such_vectors.jsonl")) { error in
            XCTAssertTrue("\(error)".hasPrefix("fixture \(Fixtures.directory.path)/golden/no_such_vectors.jsonl is missing"), "\(error)")
        }
    }

    func testAShortResultThrowsInsteadOfTrapping() {
        XCTAssertThrowsError(try [1, 2].element(at: 2)) { error in
            XCTAssertEqual("\(error)", "no element at index 2: the collection's indices are 0..<2")
        }
        XCTAssertEqual(try [1, 2].element(at: 1), 2)
    }
}

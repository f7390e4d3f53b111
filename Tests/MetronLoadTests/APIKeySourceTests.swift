import Foundation
import MetronLoad
import XCTest

final class APIKeySourceTests: XCTestCase {
    func testVariableNames() {
        for name in ["OPENAI_API_KEY", "_key", "k1"] { XCTAssertTrue(APIKeySource.isVariableName(name), name) }
        for name in ["", "1KEY", "sk-abc123", "KEY NAME", "KÉY"] { XCTAssertFalse(APIKeySource.isVariableName(name), name) }
    }

    func testReadsTheEnvironmentTrimmedAndNamesAMissingVariable() throws {
        XCTAssertEqual(try APIKeySource.environment("K").read(environment: ["K": " secret\n"]), "secret")
        for environment in [[:], ["K": "  \n"]] {
            XCTAssertThrowsError(try APIKeySource.environment("K").read(environment: environment)) { error in
                XCTAssertEqual("\(error)", "API key variable K: the environment variable is not set or empty")
            }
        }
    }

    func testReadsAFileAndRefusesEmptyOrSeveralLinesWithoutEchoingTheKey() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("apikey-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func file(_ text: String) throws -> String {
            let url = directory.appendingPathComponent(UUID().uuidString)
            try text.write(to: url, atomically: true, encoding: .utf8)
            return url.path
        }
        XCTAssertEqual(try APIKeySource.file(try file("sk-one\n")).read(), "sk-one")
        let cases = [(try file(" \n"), "the file is empty"), (try file("sk-one\nsk-two\n"), "the key must be one line"),
                     (directory.appendingPathComponent("missing").path, "cannot read the file")]
        for (path, reason) in cases {
            XCTAssertThrowsError(try APIKeySource.file(path).read()) { error in
                XCTAssertEqual("\(error)", "API key file \(path): \(reason)")
                XCTAssertFalse("\(error)".contains("sk-"))
            }
        }
    }
}

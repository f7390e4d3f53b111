import Foundation

/// Test inputs kept in the repository under `Tests/Fixtures` (its README names their sources).
/// Found from this file's own path, so tests read nothing outside the checkout.
public enum Fixtures {
    public static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Tests/Fixtures")

    /// A fixture that is absent or empty: the test reading it fails with this message, the others run on.
    public struct Unusable: Error, CustomStringConvertible {
        public var path: String
        public var problem: String
        public var description: String { "fixture \(path) is \(problem) (see Tests/Fixtures/README.md)" }
    }

    /// The location of `relative` inside `Tests/Fixtures`; throws `Unusable` when there is no such file.
    public static func url(_ relative: String) throws -> URL {
        let url = directory.appendingPathComponent(relative)
        guard FileManager.default.fileExists(atPath: url.path) else { throw Unusable(path: url.path, problem: "missing") }
        return url
    }

    public static func text(_ relative: String) throws -> String {
        try String(contentsOf: url(relative), encoding: .utf8)
    }

    /// The non-empty lines of a fixture; throws `Unusable` when the file is absent or has none.
    public static func lines(_ relative: String) throws -> [Substring] {
        let lines = try text(relative).split(separator: "\n")
        guard !lines.isEmpty else { throw Unusable(path: try url(relative).path, problem: "empty") }
        return lines
    }
}

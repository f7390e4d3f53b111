import Foundation

/// The reference material beside the project root (`../shared`).
enum SharedFiles {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared")

    static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }
}

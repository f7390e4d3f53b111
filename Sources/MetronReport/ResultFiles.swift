import Foundation
import MetronModel

/// A problem reading or writing results, naming the file.
public struct ResultFileError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var message: String
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): \(message)" }
}

/// Writes that never leave a half-written file under the final name: content goes to a temporary
/// sibling first and is renamed into place, which is atomic on one file system.
public enum AtomicWrite {
    public static func data(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).partial-\(UUID().uuidString)")
        do {
            try data.write(to: temporary)
            if rename(temporary.path, url.path) != 0 {
                throw ResultFileError(path: url.path, message: "cannot rename into place: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            if error is ResultFileError { throw error }
            throw ResultFileError(path: url.path, message: "cannot write: \(error.localizedDescription)")
        }
    }

    public static func text(_ text: String, to url: URL) throws {
        try data(Data(text.utf8), to: url)
    }

    /// Sorted-key, pretty-printed JSON, so files diff cleanly between runs.
    public static func json<T: Encodable>(_ value: T, to url: URL) throws {
        try data(JSON.encode(value) + Data("\n".utf8), to: url)
    }

    /// Fills a fresh temporary directory with `fill`, then renames it to `url`, replacing whatever
    /// was there. A directory under the final name is therefore always complete.
    public static func directory(at url: URL, _ fill: (URL) throws -> Void) throws {
        let parent = url.deletingLastPathComponent()
        let fm = FileManager.default
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        let temporary = parent.appendingPathComponent(".\(url.lastPathComponent).partial-\(UUID().uuidString)")
        try fm.createDirectory(at: temporary, withIntermediateDirectories: false)
        do {
            try fill(temporary)
            if fm.fileExists(atPath: url.path) { try fm.removeItem(at: url) }
            if rename(temporary.path, url.path) != 0 {
                throw ResultFileError(path: url.path, message: "cannot rename into place: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? fm.removeItem(at: temporary)
            throw error
        }
    }
}

public enum JSON {
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from url: URL) throws -> T {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ResultFileError(path: url.path, message: "cannot read: \(error.localizedDescription)")
        }
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw ResultFileError(path: url.path, message: "not a valid \(type) file: \(error)")
        }
    }
}

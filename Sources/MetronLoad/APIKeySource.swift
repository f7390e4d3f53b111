import Foundation

/// Where a server's API key comes from. The key itself is never printed, not even in errors.
public enum APIKeySource: Sendable, Equatable {
    /// The name of an environment variable that holds the key.
    case environment(String)
    /// A file that holds the key on one line.
    case file(String)

    /// Whether `name` can name an environment variable. A value that cannot may be the key itself,
    /// given in the wrong place: callers say so without echoing it.
    public static func isVariableName(_ name: String) -> Bool {
        name.range(of: "^[A-Za-z_][A-Za-z0-9_]*$", options: .regularExpression) != nil
    }

    /// The key, with surrounding white space trimmed.
    public func read(environment: [String: String] = ProcessInfo.processInfo.environment) throws(APIKeyError) -> String {
        switch self {
        case let .environment(name):
            let key = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            guard !key.isEmpty else { throw APIKeyError(source: self, reason: "the environment variable is not set or empty") }
            return key
        case let .file(path):
            guard let data = FileManager.default.contents(atPath: path) else { throw APIKeyError(source: self, reason: "cannot read the file") }
            let key = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !key.isEmpty else { throw APIKeyError(source: self, reason: "the file is empty") }
            guard !key.contains(where: \.isNewline) else { throw APIKeyError(source: self, reason: "the key must be one line") }
            return key
        }
    }
}

/// An API key that could not be read: which source, and why (never the key).
public struct APIKeyError: Error, Equatable, CustomStringConvertible {
    public var source: APIKeySource
    public var reason: String
    public var description: String {
        switch source {
        case let .environment(name): return "API key variable \(name): \(reason)"
        case let .file(path): return "API key file \(path): \(reason)"
        }
    }
}

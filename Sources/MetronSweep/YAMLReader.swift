import Foundation
import MetronModel
import MetronSearch
import Yams

/// One problem of an input file, with where it is and what was expected.
public struct InputProblem: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String { "\(file):\(line):\(column): \(message)" }
}

/// Every problem of one file, reported together.
public struct InputFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var problems: [InputProblem]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Typed reads from a composed YAML tree that collect problems instead of stopping at the first.
/// Each read returns nil on a problem, after recording it with the node's line and column.
final class YAMLReader {
    let file: String
    private(set) var problems: [InputProblem] = []

    init(file: String) { self.file = file }

    func problem(at node: Node?, _ message: String) {
        let mark = node?.mark
        problems.append(InputProblem(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, message: message))
    }

    func problem(line: Int, column: Int, _ message: String) {
        problems.append(InputProblem(file: file, line: line, column: column, message: message))
    }

    /// The resolved tag of a node (plain scalars resolve to int, float, bool, null or str).
    static func tag(_ node: Node) -> Tag.Name { Tag.Name(rawValue: node.tag.rawValue) }

    /// A node as a JSONSerialization value (numbers, booleans, null, text, lists, mappings).
    static func jsonValue(_ node: Node) -> Any {
        switch node {
        case let .mapping(m):
            var object: [String: Any] = [:]
            for (k, v) in m { object[k.string ?? "\(k)"] = jsonValue(v) }
            return object
        case let .sequence(s): return s.map(jsonValue)
        case let .scalar(s):
            switch tag(node) {
            case .int: return Int(s.string).map { $0 as Any } ?? (Double(s.string) ?? 0) as Any
            case .float: return Double(s.string) ?? Double.nan
            case .bool: return node.bool ?? false
            case .null: return NSNull()
            default: return s.string
            }
        case .alias: return NSNull()
        }
    }

    /// A short description of what a node is, for "got ..." in messages.
    static func kind(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case let .scalar(s):
            let text = s.string.count > 40 ? String(s.string.prefix(40)) + "..." : s.string
            switch Self.tag(node) {
            case .int, .float: return "the number \(text)"
            case .bool: return "the boolean \(text)"
            case .null: return "nothing (null)"
            default: return "the text '\(text)'"
            }
        }
    }

    /// A mapping's values by key. Reports a non-mapping, non-text keys, unknown keys (with a
    /// suggestion) and missing required keys. With `openKeys`, unknown keys are allowed unless they
    /// look like a misspelt known key.
    func mapping(_ node: Node, _ path: String, known: [String], required: [String] = [], openKeys: Bool = false) -> [String: Node]? {
        guard case let .mapping(m) = node else {
            problem(at: node, "\(path): expected a mapping with keys \(known.joined(separator: ", ")), got \(Self.kind(node))")
            return nil
        }
        var values: [String: Node] = [:]
        for (key, value) in m {
            guard case let .scalar(k) = key else { problem(at: key, "\(path): keys must be plain text"); continue }
            let name = k.string
            if !known.contains(name) {
                let suggestion = Self.suggestion(for: name, among: known)
                if !openKeys || suggestion != nil {
                    let hint = suggestion.map { "; did you mean '\($0)'?" } ?? "; expected one of \(known.joined(separator: ", "))"
                    problem(at: key, "\(path): unknown key '\(name)'\(hint)")
                    continue
                }
            }
            values[name] = value
        }
        for key in required where values[key] == nil {
            problem(at: node, "\(path): missing required key '\(key)'")
        }
        return values
    }

    func sequence(_ node: Node, _ path: String, nonEmpty: Bool = true) -> [Node]? {
        guard case let .sequence(s) = node else {
            problem(at: node, "\(path): expected a list, got \(Self.kind(node))")
            return nil
        }
        if nonEmpty && s.isEmpty {
            problem(at: node, "\(path): expected at least one entry, got an empty list")
            return nil
        }
        return Array(s)
    }

    func string(_ node: Node, _ path: String) -> String? {
        guard case let .scalar(s) = node, Self.tag(node) == .str, !s.string.isEmpty else {
            problem(at: node, "\(path): expected text, got \(Self.kind(node))")
            return nil
        }
        return s.string
    }

    /// A name used in paths and tables: letters, digits, '.', '_' and '-'.
    func name(_ node: Node, _ path: String) -> String? {
        guard let s = string(node, path) else { return nil }
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        guard s.unicodeScalars.allSatisfy(allowed.contains), s != ".", s != "..", s.count <= 100 else {
            problem(at: node, "\(path): '\(s)' is not a usable name: expected letters, digits, '.', '_' or '-' (it names a results directory)")
            return nil
        }
        return s
    }

    func oneOf(_ node: Node, _ path: String, _ choices: [String]) -> String? {
        guard let s = string(node, path) else { return nil }
        guard choices.contains(s) else {
            let hint = Self.suggestion(for: s, among: choices).map { "; did you mean '\($0)'?" } ?? ""
            problem(at: node, "\(path): expected one of \(choices.joined(separator: ", ")), got '\(s)'\(hint)")
            return nil
        }
        return s
    }

    enum Bound { case none, above(Double), atLeast(Double), below(Double), atMost(Double) }

    /// A number within every one of `bounds`.
    func number(_ node: Node, _ path: String, _ bounds: Bound..., unit: String = "") -> Double? {
        number(node, path, bounds: bounds, unit: unit)
    }

    func number(_ node: Node, _ path: String, bounds: [Bound], unit: String = "") -> Double? {
        guard case let .scalar(s) = node, [.int, .float].contains(Self.tag(node)), let x = Double(s.string.replacingOccurrences(of: "_", with: "")) ?? node.float,
              x.isFinite
        else {
            problem(at: node, "\(path): expected a number\(unit.isEmpty ? "" : " (\(unit))"), got \(Self.kind(node))")
            return nil
        }
        for bound in bounds {
            let ok: Bool, expected: String
            switch bound {
            case .none: continue
            case let .above(b): ok = x > b; expected = "greater than \(Self.text(b))"
            case let .atLeast(b): ok = x >= b; expected = "at least \(Self.text(b))"
            case let .below(b): ok = x < b; expected = "less than \(Self.text(b))"
            case let .atMost(b): ok = x <= b; expected = "at most \(Self.text(b))"
            }
            if !ok {
                problem(at: node, "\(path): expected a number \(expected), got \(Self.text(x))")
                return nil
            }
        }
        return x
    }

    func integer(_ node: Node, _ path: String, atLeast minimum: Int) -> Int? {
        guard case let .scalar(s) = node, Self.tag(node) == .int, let x = Int(s.string) ?? node.int else {
            problem(at: node, "\(path): expected a whole number, got \(Self.kind(node))")
            return nil
        }
        guard x >= minimum else {
            problem(at: node, "\(path): expected a whole number of at least \(minimum), got \(x)")
            return nil
        }
        return x
    }

    func bool(_ node: Node, _ path: String) -> Bool? {
        guard Self.tag(node) == .bool, let b = node.bool else {
            problem(at: node, "\(path): expected true or false, got \(Self.kind(node))")
            return nil
        }
        return b
    }

    static func text(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x)
    }

    /// The closest known word within a small edit distance, for "did you mean".
    static func suggestion(for word: String, among candidates: [String]) -> String? {
        let scored = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        let limit = max(1, min(3, best.0.count / 3))
        return best.1 <= limit ? best.0 : nil
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

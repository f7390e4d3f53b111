import Foundation

/// One sample line of the Prometheus text exposition format: `name{label="value",...} value [timestamp]`.
public struct PrometheusSample: Sendable, Equatable {
    public var name: String
    /// Labels in the order written.
    public var labels: [(name: String, value: String)]
    public var value: Double

    public init(name: String, labels: [(name: String, value: String)] = [], value: Double) {
        self.name = name
        self.labels = labels
        self.value = value
    }

    public func label(_ key: String) -> String? { labels.first { $0.name == key }?.value }

    /// `name{a="x",b="y"}` as the exposition format writes it, labels escaped.
    public var seriesKey: String {
        guard !labels.isEmpty else { return name }
        let inner = labels.map { "\($0.name)=\"\(PrometheusText.escape($0.value))\"" }.joined(separator: ",")
        return "\(name){\(inner)}"
    }

    public static func == (a: PrometheusSample, b: PrometheusSample) -> Bool {
        a.name == b.name && a.value.bitPattern == b.value.bitPattern
            && a.labels.map(\.name) == b.labels.map(\.name) && a.labels.map(\.value) == b.labels.map(\.value)
    }
}

/// A line of exposition text that is not valid; `line` counts from 1.
public struct PrometheusParseError: Error, Equatable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var description: String { "metrics text line \(line): \(message)" }
}

/// A pure parser of the Prometheus text exposition format (version 0.0.4). `# HELP` / `# TYPE` lines and
/// other comments are skipped; every other non-blank line must be a sample.
public enum PrometheusText {
    public static func parse(_ text: String) throws -> [PrometheusSample] {
        var samples: [PrometheusSample] = []
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) || line.first == "#" { continue }
            do {
                samples.append(try sample(Array(line.utf8)))
            } catch let message as LineProblem {
                throw PrometheusParseError(line: number, message: message.text)
            }
        }
        return samples
    }

    /// Renders samples as exposition text (what `parse` reads back to the same samples).
    public static func render(_ samples: [PrometheusSample]) -> String {
        samples.map { "\($0.seriesKey) \(format($0.value))\n" }.joined()
    }

    static func format(_ x: Double) -> String {
        if x.isNaN { return "NaN" }
        if x.isInfinite { return x > 0 ? "+Inf" : "-Inf" }
        return "\(x)"
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }

    private struct LineProblem: Error { var text: String }

    private static func isNameStart(_ b: UInt8) -> Bool {
        (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || b == 0x5F || b == 0x3A
    }
    private static func isNameByte(_ b: UInt8) -> Bool { isNameStart(b) || (b >= 0x30 && b <= 0x39) }
    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }

    private static func sample(_ bytes: [UInt8]) throws -> PrometheusSample {
        var i = 0
        while i < bytes.count, isSpace(bytes[i]) { i += 1 }
        let nameStart = i
        guard i < bytes.count, isNameStart(bytes[i]) else { throw LineProblem(text: "expected a metric name") }
        while i < bytes.count, isNameByte(bytes[i]) { i += 1 }
        let name = String(decoding: bytes[nameStart..<i], as: UTF8.self)
        var labels: [(name: String, value: String)] = []
        if i < bytes.count, bytes[i] == UInt8(ascii: "{") {
            i += 1
            while true {
                while i < bytes.count, isSpace(bytes[i]) { i += 1 }
                guard i < bytes.count else { throw LineProblem(text: "unterminated label set") }
                if bytes[i] == UInt8(ascii: "}") { i += 1; break }
                let labelStart = i
                guard isNameStart(bytes[i]), bytes[i] != UInt8(ascii: ":") else {
                    throw LineProblem(text: "expected a label name in \(name)")
                }
                while i < bytes.count, isNameByte(bytes[i]), bytes[i] != UInt8(ascii: ":") { i += 1 }
                let labelName = String(decoding: bytes[labelStart..<i], as: UTF8.self)
                while i < bytes.count, isSpace(bytes[i]) { i += 1 }
                guard i < bytes.count, bytes[i] == UInt8(ascii: "=") else { throw LineProblem(text: "expected = after label \(labelName)") }
                i += 1
                while i < bytes.count, isSpace(bytes[i]) { i += 1 }
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw LineProblem(text: "expected a quoted value for label \(labelName)") }
                i += 1
                var value: [UInt8] = []
                var closed = false
                while i < bytes.count {
                    let b = bytes[i]
                    i += 1
                    if b == UInt8(ascii: "\"") { closed = true; break }
                    if b == UInt8(ascii: "\\") {
                        guard i < bytes.count else { break }
                        let e = bytes[i]
                        i += 1
                        switch e {
                        case UInt8(ascii: "n"): value.append(0x0A)
                        case UInt8(ascii: "\\"), UInt8(ascii: "\""): value.append(e)
                        default: throw LineProblem(text: "invalid escape in label \(labelName)")
                        }
                    } else {
                        value.append(b)
                    }
                }
                guard closed else { throw LineProblem(text: "unterminated value of label \(labelName)") }
                guard let text = String(validating: value, as: UTF8.self) else {
                    throw LineProblem(text: "label \(labelName) is not UTF-8")
                }
                labels.append((labelName, text))
                while i < bytes.count, isSpace(bytes[i]) { i += 1 }
                if i < bytes.count, bytes[i] == UInt8(ascii: ",") { i += 1 }
                else if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; break }
                else { throw LineProblem(text: "expected , or } in the labels of \(name)") }
            }
        }
        guard i < bytes.count, isSpace(bytes[i]) else { throw LineProblem(text: "expected a value after \(name)") }
        let fields = bytes[i...].split(whereSeparator: isSpace)
        guard let first = fields.first, fields.count <= 2 else {
            throw LineProblem(text: "expected a value and at most a timestamp after \(name)")
        }
        guard let value = number(String(decoding: first, as: UTF8.self)) else {
            throw LineProblem(text: "value of \(name) is not a number: \(String(decoding: first.prefix(40), as: UTF8.self))")
        }
        if fields.count == 2, Int64(String(decoding: fields[fields.startIndex + 1], as: UTF8.self)) == nil {
            throw LineProblem(text: "timestamp of \(name) is not an integer")
        }
        return PrometheusSample(name: name, labels: labels, value: value)
    }

    /// Go's float syntax as Prometheus writes it, plus `+Inf`, `-Inf` and `NaN`.
    static func number(_ s: String) -> Double? {
        switch s {
        case "+Inf", "Inf": return .infinity
        case "-Inf": return -.infinity
        case "NaN": return .nan
        default:
            // Double(String) also takes "inf", "nan" and hex floats, which the format does not.
            guard s.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x2B || $0 == 0x2D || $0 == 0x65 || $0 == 0x45 })
            else { return nil }
            return Double(s)
        }
    }
}

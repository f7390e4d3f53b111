import Foundation
/// One row of a request-length trace in the reference CSV format
/// (`num_prefill_tokens,num_decode_tokens,...`, optionally `arrived_at` in seconds).
public struct TraceRow: Sendable, Equatable {
    public var promptTokens: Int
    public var outputTokens: Int
    public var arrivedAt: Double?

    public init(promptTokens: Int, outputTokens: Int, arrivedAt: Double? = nil) {
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
        self.arrivedAt = arrivedAt
    }
}

/// A problem in a trace file, with its location.
public struct TraceError: Error, CustomStringConvertible, Equatable {
    public var source: String
    public var line: Int
    public var message: String
    public var description: String { "\(source):\(line): \(message)" }
}

public enum TraceFile {
    public static let promptColumn = "num_prefill_tokens"
    public static let outputColumn = "num_decode_tokens"
    public static let arrivalColumn = "arrived_at"

    /// Parses CSV text; `source` names the file in errors. Every bad line is reported, up to 20.
    public static func parse(_ text: String, source: String) throws -> [TraceRow] {
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated()
            .map { (number: $0.offset + 1, text: $0.element.trimmingCharacters(in: .whitespaces)) }
            .filter { !$0.text.isEmpty }
        guard !lines.isEmpty else { throw [TraceError(source: source, line: 1, message: "the trace is empty")].joined }
        let header = lines.removeFirst()
        let columns = header.text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let promptIndex = columns.firstIndex(of: promptColumn),
              let outputIndex = columns.firstIndex(of: outputColumn)
        else {
            throw [TraceError(source: source, line: header.number,
                message: "header must name columns \(promptColumn) and \(outputColumn), got: \(header.text.prefix(120))")].joined
        }
        let arrivalIndex = columns.firstIndex(of: arrivalColumn)
        var rows: [TraceRow] = [], problems: [TraceError] = []
        for line in lines {
            let fields = line.text.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            func fail(_ message: String) { problems.append(TraceError(source: source, line: line.number, message: message)) }
            guard fields.count == columns.count else {
                fail("expected \(columns.count) fields, got \(fields.count)"); continue
            }
            guard let p = Int(fields[promptIndex]) ?? Double(fields[promptIndex]).flatMap(Int.init(exactly:)), p >= 1 else {
                fail("\(promptColumn) must be a whole number >= 1, got '\(fields[promptIndex].prefix(40))'"); continue
            }
            guard let o = Int(fields[outputIndex]) ?? Double(fields[outputIndex]).flatMap(Int.init(exactly:)), o >= 1 else {
                fail("\(outputColumn) must be a whole number >= 1, got '\(fields[outputIndex].prefix(40))'"); continue
            }
            var arrival: Double?
            if let a = arrivalIndex {
                guard let t = Double(fields[a]), t.isFinite, t >= 0 else {
                    fail("\(arrivalColumn) must be seconds >= 0, got '\(fields[a].prefix(40))'"); continue
                }
                arrival = t
            }
            rows.append(TraceRow(promptTokens: p, outputTokens: o, arrivedAt: arrival))
        }
        if !problems.isEmpty { throw problems.joined }
        guard !rows.isEmpty else {
            throw [TraceError(source: source, line: header.number, message: "the trace has a header but no rows")].joined
        }
        return rows
    }
}

/// Every problem of one input, reported together.
public struct InputErrors: Error, CustomStringConvertible, Equatable {
    public var messages: [String]
    public var description: String { messages.joined(separator: "\n") }
}

extension Array where Element == TraceError {
    var joined: InputErrors {
        let shown = prefix(20).map(\.description)
        return InputErrors(messages: count > 20 ? shown + ["... and \(count - 20) more problems"] : shown)
    }
}

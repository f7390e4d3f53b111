import Foundation

/// Text made safe for HTML element content and attribute values.
public func htmlEscaped(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for c in text.unicodeScalars {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}

/// A chart drawn as inline SVG: axes with ticks, then lines, markers, bars and rules in data coordinates.
/// Everything it writes is escaped; it needs no script and no external resource.
struct SVGPlot {
    var width = 560.0, height = 300.0
    var x: ClosedRange<Double>
    var y: ClosedRange<Double>
    var xLabel: String
    var yLabel: String
    var title: String
    private var body: [String] = []
    private var legend: [(label: String, color: String, dashed: Bool)] = []
    private var margin = (left: 58.0, right: 14.0, top: 28.0, bottom: 44.0)

    /// Where the legend goes: the corner the data leave empty.
    enum Corner { case topLeft, topRight, bottomLeft, bottomRight }
    var legendCorner = Corner.topRight

    init(title: String, x: ClosedRange<Double>, y: ClosedRange<Double>, xLabel: String, yLabel: String,
         width: Double = 560, height: Double = 300, leftMargin: Double = 58) {
        self.title = title
        margin.left = leftMargin
        self.x = x.lowerBound < x.upperBound ? x : (x.lowerBound - 1)...(x.upperBound + 1)
        self.y = y.lowerBound < y.upperBound ? y : (y.lowerBound - 1)...(y.upperBound + 1)
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.width = width
        self.height = height
    }

    func px(_ v: Double) -> Double {
        margin.left + (min(max(v, x.lowerBound), x.upperBound) - x.lowerBound) / (x.upperBound - x.lowerBound) * (width - margin.left - margin.right)
    }

    func py(_ v: Double) -> Double {
        height - margin.bottom - (min(max(v, y.lowerBound), y.upperBound) - y.lowerBound) / (y.upperBound - y.lowerBound)
            * (height - margin.top - margin.bottom)
    }

    static func f(_ v: Double) -> String { String(format: "%.1f", v) }

    mutating func line(_ points: [(Double, Double)], color: String, label: String? = nil, dashed: Bool = false, width: Double = 2) {
        let finite = points.filter { $0.0.isFinite && $0.1.isFinite }
        guard finite.count >= 2 else { return }
        let path = finite.map { "\(Self.f(px($0.0))),\(Self.f(py($0.1)))" }.joined(separator: " ")
        body.append("<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(width)\"\(dashed ? " stroke-dasharray=\"5 4\"" : "") points=\"\(path)\"/>")
        if let label { legend.append((label, color, dashed)) }
    }

    enum Marker { case filled, cross, hollowSquare }

    mutating func marker(_ at: (Double, Double), _ kind: Marker, color: String, tip: String) {
        let (cx, cy) = (Self.f(px(at.0)), Self.f(py(at.1)))
        let title = "<title>\(htmlEscaped(tip))</title>"
        switch kind {
        case .filled:
            body.append("<circle cx=\"\(cx)\" cy=\"\(cy)\" r=\"5\" fill=\"\(color)\">\(title)</circle>")
        case .cross:
            let (x0, y0) = (px(at.0), py(at.1))
            body.append("<path d=\"M\(Self.f(x0 - 5)),\(Self.f(y0 - 5))L\(Self.f(x0 + 5)),\(Self.f(y0 + 5))M\(Self.f(x0 - 5)),\(Self.f(y0 + 5))L\(Self.f(x0 + 5)),\(Self.f(y0 - 5))\" stroke=\"\(color)\" stroke-width=\"2.5\">\(title)</path>")
        case .hollowSquare:
            body.append("<rect x=\"\(Self.f(px(at.0) - 5))\" y=\"\(Self.f(py(at.1) - 5))\" width=\"10\" height=\"10\" fill=\"white\" stroke=\"\(color)\" stroke-width=\"2\">\(title)</rect>")
        }
    }

    mutating func legendEntry(_ label: String, color: String) { legend.append((label, color, false)) }

    mutating func verticalRule(at v: Double, color: String, label: String? = nil) {
        guard v.isFinite else { return }
        body.append("<line x1=\"\(Self.f(px(v)))\" x2=\"\(Self.f(px(v)))\" y1=\"\(Self.f(py(y.upperBound)))\" y2=\"\(Self.f(py(y.lowerBound)))\" stroke=\"\(color)\" stroke-dasharray=\"3 3\"/>")
        if let label {
            // At the foot of the rule: the top is where level labels and legends go.
            body.append("<text x=\"\(Self.f(px(v) + 4))\" y=\"\(Self.f(py(y.lowerBound) - 6))\" fill=\"\(color)\" font-size=\"11\">\(htmlEscaped(label))</text>")
        }
    }

    mutating func horizontalRule(at v: Double, color: String, label: String? = nil) {
        guard v.isFinite else { return }
        body.append("<line x1=\"\(Self.f(px(x.lowerBound)))\" x2=\"\(Self.f(px(x.upperBound)))\" y1=\"\(Self.f(py(v)))\" y2=\"\(Self.f(py(v)))\" stroke=\"\(color)\" stroke-dasharray=\"3 3\"/>")
        if let label {
            body.append("<text x=\"\(Self.f(px(x.upperBound) - 4))\" y=\"\(Self.f(py(v) - 4))\" text-anchor=\"end\" fill=\"\(color)\" font-size=\"11\">\(htmlEscaped(label))</text>")
        }
    }

    /// A shaded band between two x values (a probe's measurement window).
    mutating func band(from a: Double, to b: Double, color: String) {
        guard a.isFinite, b.isFinite, b > a else { return }
        body.append("<rect x=\"\(Self.f(px(a)))\" y=\"\(Self.f(py(y.upperBound)))\" width=\"\(Self.f(px(b) - px(a)))\" height=\"\(Self.f(py(y.lowerBound) - py(y.upperBound)))\" fill=\"\(color)\" opacity=\"0.12\"/>")
    }

    /// A horizontal bar from the axis to `value` in row `row` of `rows`, with an interval whisker.
    mutating func bar(row: Int, of rows: Int, value: Double, low: Double?, high: Double?, color: String, label: String, tip: String) {
        let band = (height - margin.top - margin.bottom) / Double(rows)
        let top = margin.top + band * Double(row) + band * 0.2
        let h = band * 0.6
        let x0 = px(x.lowerBound), x1 = px(value)
        body.append("<rect x=\"\(Self.f(x0))\" y=\"\(Self.f(top))\" width=\"\(Self.f(max(0, x1 - x0)))\" height=\"\(Self.f(h))\" fill=\"\(color)\"><title>\(htmlEscaped(tip))</title></rect>")
        body.append("<text x=\"\(Self.f(x0 - 6))\" y=\"\(Self.f(top + h / 2 + 4))\" text-anchor=\"end\" font-size=\"12\">\(htmlEscaped(label))</text>")
        let mid = top + h / 2
        let lowX = px(low ?? x.lowerBound), highX = high.map(px) ?? px(x.upperBound)
        body.append("<line x1=\"\(Self.f(lowX))\" x2=\"\(Self.f(highX))\" y1=\"\(Self.f(mid))\" y2=\"\(Self.f(mid))\" stroke=\"#222\" stroke-width=\"1.5\"\(high == nil ? " stroke-dasharray=\"4 3\"" : "")/>")
        for (edge, bounded) in [(lowX, low != nil), (highX, high != nil)] where bounded {
            body.append("<line x1=\"\(Self.f(edge))\" x2=\"\(Self.f(edge))\" y1=\"\(Self.f(mid - h / 3))\" y2=\"\(Self.f(mid + h / 3))\" stroke=\"#222\" stroke-width=\"1.5\"/>")
        }
    }

    /// About five round tick values over `range`.
    static func ticks(_ range: ClosedRange<Double>) -> [Double] {
        let span = range.upperBound - range.lowerBound
        guard span > 0, span.isFinite else { return [range.lowerBound] }
        let raw = span / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var v = ceil(range.lowerBound / step) * step
        var out: [Double] = []
        while v <= range.upperBound + step * 1e-9 {
            out.append(abs(v) < step * 1e-9 ? 0 : v)
            v += step
        }
        return out
    }

    static func tickText(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e6 { return String(Int(v)) }
        return String(format: "%.3g", v)
    }

    /// Axes without ticks on y (for bar charts, whose rows are labelled).
    func svg(yTicks: Bool = true) -> String {
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"\(htmlEscaped(title))\">"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
        out += "<text x=\"\(Self.f(width / 2))\" y=\"16\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">\(htmlEscaped(title))</text>"
        let (left, right, top, bottom) = (px(x.lowerBound), px(x.upperBound), py(y.upperBound), py(y.lowerBound))
        for t in Self.ticks(x) {
            out += "<line x1=\"\(Self.f(px(t)))\" x2=\"\(Self.f(px(t)))\" y1=\"\(Self.f(top))\" y2=\"\(Self.f(bottom))\" stroke=\"#eee\"/>"
            out += "<text x=\"\(Self.f(px(t)))\" y=\"\(Self.f(bottom + 15))\" text-anchor=\"middle\" font-size=\"11\">\(Self.tickText(t))</text>"
        }
        if yTicks {
            for t in Self.ticks(y) {
                out += "<line x1=\"\(Self.f(left))\" x2=\"\(Self.f(right))\" y1=\"\(Self.f(py(t)))\" y2=\"\(Self.f(py(t)))\" stroke=\"#eee\"/>"
                out += "<text x=\"\(Self.f(left - 5))\" y=\"\(Self.f(py(t) + 4))\" text-anchor=\"end\" font-size=\"11\">\(Self.tickText(t))</text>"
            }
        }
        out += "<line x1=\"\(Self.f(left))\" x2=\"\(Self.f(right))\" y1=\"\(Self.f(bottom))\" y2=\"\(Self.f(bottom))\" stroke=\"#444\"/>"
        out += "<line x1=\"\(Self.f(left))\" x2=\"\(Self.f(left))\" y1=\"\(Self.f(top))\" y2=\"\(Self.f(bottom))\" stroke=\"#444\"/>"
        out += "<text x=\"\(Self.f((left + right) / 2))\" y=\"\(Self.f(height - 8))\" text-anchor=\"middle\" font-size=\"12\">\(htmlEscaped(xLabel))</text>"
        out += "<text transform=\"translate(14 \(Self.f((top + bottom) / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">\(htmlEscaped(yLabel))</text>"
        out += body.joined()
        let legendWidth = 24 + 6.2 * Double(legend.map(\.label.count).max() ?? 0)
        let legendLeft = [.topLeft, .bottomLeft].contains(legendCorner) ? left + 10 : right - legendWidth - 6
        let legendTop = [.topLeft, .topRight].contains(legendCorner) ? top + 10 : bottom - 10 - 15 * Double(legend.count)
        if !legend.isEmpty {
            out += "<rect x=\"\(Self.f(legendLeft - 4))\" y=\"\(Self.f(legendTop - 4))\" width=\"\(Self.f(legendWidth + 8))\" height=\"\(Self.f(15 * Double(legend.count) + 4))\" fill=\"white\" opacity=\"0.85\"/>"
        }
        for (i, entry) in legend.enumerated() {
            let ly = legendTop + 6 + Double(i) * 15
            out += "<line x1=\"\(Self.f(legendLeft))\" x2=\"\(Self.f(legendLeft + 18))\" y1=\"\(Self.f(ly))\" y2=\"\(Self.f(ly))\" stroke=\"\(entry.color)\" stroke-width=\"3\"\(entry.dashed ? " stroke-dasharray=\"5 4\"" : "")/>"
            out += "<text x=\"\(Self.f(legendLeft + 24))\" y=\"\(Self.f(ly + 4))\" font-size=\"11\">\(htmlEscaped(entry.label))</text>"
        }
        return out + "</svg>"
    }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
    static func color(_ i: Int) -> String { palette[i % palette.count] }
}

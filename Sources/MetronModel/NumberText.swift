import Foundation

/// A number as people write it in a sentence or a file name: integers without a decimal point
/// ("99", not "99.0"), others in their shortest form ("0.5", "1e-06").
public func compactNumber(_ x: Double) -> String {
    x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(format: "%g", x)
}

/// A fraction as a percentage with two decimals ("1.25 %").
public func percent(_ x: Double) -> String { String(format: "%.2f %%", x * 100) }

/// Seconds as milliseconds with one decimal ("12.5 ms").
public func ms(_ s: Double) -> String { String(format: "%.1f ms", s * 1000) }

import Foundation

/// A JSON number scanned in place: its digits as an integer and a power of ten, converted to the
/// same Double as strtod (correctly rounded) without strtod's multi-precision path for common input.
enum DecimalNumber {
    /// Scans `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?` at `base[i]`; returns the value and
    /// the index after it, or nil when the bytes there are not a JSON number. `base[end]` must be
    /// readable and not continue a number.
    @inline(__always)
    static func scan(_ base: UnsafePointer<UInt8>, _ start: Int, _ end: Int, _ tables: Tables) -> (value: Double, next: Int)? {
        var i = start
        let negative = base[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        guard i < end else { return nil }
        var mantissa: UInt64 = 0
        var digits = 0
        var dropped = false
        var exponent = 0
        let first = base[i] &- 0x30
        guard first < 10 else { return nil }
        if first == 0 {
            i += 1
        } else {
            while digits <= 11, i + 8 <= end, let eight = eightDigits(base + i) {
                mantissa = mantissa &* 100_000_000 &+ eight; digits += 8; i += 8
            }
            while i < end, case let d = base[i] &- 0x30, d < 10 {
                if digits < 19 { mantissa = mantissa &* 10 &+ UInt64(d); digits += 1 } else { exponent += 1; dropped = dropped || d != 0 }
                i += 1
            }
        }
        if i < end, base[i] == UInt8(ascii: ".") {
            i += 1
            let fractionStart = i
            if mantissa == 0 {
                while i < end, base[i] == UInt8(ascii: "0") { exponent -= 1; i += 1 }
            }
            while digits <= 11, i + 8 <= end, let eight = eightDigits(base + i) {
                mantissa = mantissa &* 100_000_000 &+ eight; digits += 8; exponent -= 8; i += 8
            }
            while i < end, case let d = base[i] &- 0x30, d < 10 {
                if digits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(d); digits += 1; exponent -= 1
                } else if d != 0 {
                    dropped = true
                }
                i += 1
            }
            guard i > fractionStart else { return nil }
        }
        if i < end, base[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            var exponentNegative = false
            if i < end, base[i] == UInt8(ascii: "+") || base[i] == UInt8(ascii: "-") {
                exponentNegative = base[i] == UInt8(ascii: "-")
                i += 1
            }
            let exponentStart = i
            var e = 0
            while i < end, case let d = base[i] &- 0x30, d < 10 {
                if e < 100_000 { e = e * 10 + Int(d) }
                i += 1
            }
            guard i > exponentStart else { return nil }
            exponent += exponentNegative ? -e : e
        }
        if !dropped, let v = exact(mantissa, exponent, tables) {
            return (negative ? -v : v, i)
        }
        // Many digits or a large exponent: the rare case, left to strtod over the checked span.
        let text = UnsafeMutableRawPointer(mutating: base + start).assumingMemoryBound(to: CChar.self)
        return (strtod(text, nil), i)
    }

    /// The common form, `-?[0-9]{1,7}(.[0-9]+)?` of at most 19 digits with room after it in the
    /// buffer, read a word at a time with no branch per digit; nil for anything else (`scan` then
    /// reads it the long way, which also gives the grammar's verdict).
    @inline(__always)
    static func scanShort(_ base: UnsafePointer<UInt8>, _ start: Int, _ end: Int, _ tables: Tables) -> (value: Double, next: Int)? {
        var i = start
        guard i + 40 <= end else { return nil }
        let negative = base[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        let (n1, v1) = digitRun(base + i)
        guard n1 > 0 && n1 < 8 && (n1 == 1 || base[i] != UInt8(ascii: "0")) else { return nil }
        i += n1
        var m = v1, digits = v1 == 0 ? 0 : n1, exponent = 0
        if base[i] == UInt8(ascii: ".") {
            i += 1
            var (n, v) = digitRun(base + i)
            guard n > 0 else { return nil }
            var words = 0
            while true {
                m = m &* tables.integerPowers[n] &+ v
                digits += n
                exponent -= n
                i += n
                words += 1
                guard n == 8 && words < 3 else { break }
                (n, v) = digitRun(base + i)
            }
        }
        guard digits <= 19, base[i] &- 0x30 >= 10, base[i] | 0x20 != UInt8(ascii: "e"),
              let value = exact(m, exponent, tables) else { return nil }
        return (negative ? -value : value, i)
    }

    /// The run of ASCII digits (at most 8) at `p` and its value: the first byte that is not a digit
    /// is found by the SWAR test, which is exact up to that byte.
    @inline(__always)
    static func digitRun(_ p: UnsafePointer<UInt8>) -> (count: Int, value: UInt64) {
        let v = UInt64(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self))
        let x = v &- 0x3030_3030_3030_3030
        let notDigit = ((v &+ 0x4646_4646_4646_4646) | x) & 0x8080_8080_8080_8080
        let n = notDigit.trailingZeroBitCount >> 3
        // Digits after the run shifted out; zeros before it do not change the value.
        return (n, eightDigitValues(x << UInt64(64 - 8 * n)))
    }

    /// Eight digit values (0...9, first byte most significant) as one number.
    @inline(__always)
    static func eightDigitValues(_ digits: UInt64) -> UInt64 {
        var x = digits &* 10 &+ (digits >> 8)
        let mask: UInt64 = 0x0000_00FF_0000_00FF
        x = ((x & mask) &* 0x000F_4240_0000_0064 &+ ((x >> 16) & mask) &* 0x0000_2710_0000_0001) >> 32
        return x
    }

    /// Eight ASCII digits at `p` as their value (SWAR), or nil if any byte is not a digit.
    @inline(__always)
    static func eightDigits(_ p: UnsafePointer<UInt8>) -> UInt64? {
        let v = UInt64(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self))
        guard ((v &+ 0x4646_4646_4646_4646) | (v &- 0x3030_3030_3030_3030)) & 0x8080_8080_8080_8080 == 0 else { return nil }
        var x = v &- 0x3030_3030_3030_3030
        x = x &* 10 &+ (x >> 8)
        let mask: UInt64 = 0x0000_00FF_0000_00FF
        x = ((x & mask) &* 0x000F_4240_0000_0064 &+ ((x >> 16) & mask) &* 0x0000_2710_0000_0001) >> 32
        return x
    }

    /// Powers of ten, passed in by pointer: a global read per number would cost a lazy-init check.
    struct Tables: @unchecked Sendable {
        let powers: UnsafePointer<Double>
        let integerPowers: UnsafePointer<UInt64>

        static let shared: Tables = {
            let powers = UnsafeMutablePointer<Double>.allocate(capacity: 23)
            let integerPowers = UnsafeMutablePointer<UInt64>.allocate(capacity: 20)
            var p: UInt64 = 1
            for k in 0...22 {
                powers[k] = pow(10, Double(k))
                if k < 20 { integerPowers[k] = p; p = k < 19 ? p * 10 : p }
            }
            return Tables(powers: powers, integerPowers: integerPowers)
        }()
    }

    /// `m * 10^e` correctly rounded, or nil outside the cases handled here.
    @inline(__always)
    static func exact(_ m: UInt64, _ e: Int, _ tables: Tables) -> Double? {
        if m == 0 { return 0 }
        if m <= 1 << 53 && e >= -22 && e <= 22 {
            // Both operands exact: one IEEE operation rounds once, correctly.
            let v = Double(m)
            return e >= 0 ? v * tables.powers[e] : v / tables.powers[-e]
        }
        guard e < 0 && e >= -19 else { return nil }
        return quotient(m, tables.integerPowers[-e])
    }

    /// `m / p` correctly rounded to nearest even, by one 128-by-64-bit integer division.
    @inline(__always)
    static func quotient(_ m: UInt64, _ p: UInt64) -> Double? {
        let a = 64 - m.leadingZeroBitCount, b = 64 - p.leadingZeroBitCount
        // m * 2^s / p lies in (2^53, 2^55).
        let s = 54 + b - a
        guard s >= 0 else { return nil }
        let high: UInt64, low: UInt64
        if s >= 64 { high = m << (s - 64); low = 0 } else if s == 0 { high = 0; low = m } else { high = m >> (64 - s); low = m << s }
        let (q, r) = p.dividingFullWidth((high, low))
        let extra = (64 - q.leadingZeroBitCount) - 53
        var significand = q >> extra
        let rest = q & ((1 << extra) - 1), half: UInt64 = 1 << (extra - 1)
        if rest > half || (rest == half && (r != 0 || significand & 1 == 1)) { significand += 1 }
        // significand in [2^52, 2^53]: a carry out of the 52 stored bits lands in the exponent, as it should.
        let biased = UInt64(52 + extra - s + 1023)
        return Double(bitPattern: (biased << 52) &+ (significand &- (1 << 52)))
    }
}

/// Thrown by `element(at:)`: a result shorter than a test expects fails that test, and the
/// suite runs on, where subscripting would trap and end the whole test process.
public struct MissingElement: Error, CustomStringConvertible {
    public var index: Int
    public var indices: Range<Int>
    public var description: String { "no element at index \(index): the collection's indices are \(indices)" }
}

extension RandomAccessCollection where Index == Int {
    public func element(at index: Int) throws -> Element {
        guard indices.contains(index) else { throw MissingElement(index: index, indices: startIndex..<endIndex) }
        return self[index]
    }
}

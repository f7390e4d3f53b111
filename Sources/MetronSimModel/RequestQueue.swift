/// FIFO of request ids with cheap removal at the front and re-insertion there after preemption.
struct RequestQueue: Sendable {
    private var storage: [Int] = []
    private var head = 0

    var isEmpty: Bool { head == storage.count }
    var count: Int { storage.count - head }
    var first: Int? { isEmpty ? nil : storage[head] }

    mutating func append(_ id: Int) { storage.append(id) }

    mutating func removeFirst() {
        head += 1
        if head > 1024, head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
    }

    mutating func prepend(_ id: Int) {
        if head > 0 {
            head -= 1
            storage[head] = id
        } else {
            storage.insert(id, at: 0)
        }
    }

    mutating func remove(_ id: Int) {
        if let i = storage[head...].firstIndex(of: id) { storage.remove(at: i) }
    }
}

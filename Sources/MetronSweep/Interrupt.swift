import Foundation
import Synchronization

/// Termination signals (SIGINT, SIGTERM) as the commands see them: a plain C handler records the first
/// one from `catching` on, and callers poll for it. A handler installed asynchronously (a dispatch
/// source is armed later on another thread) could miss a signal that comes early.
public enum TerminationSignals {
    /// Catches `signals` from now on; the first one received is kept.
    public static func catching(_ signals: [Int32]) {
        received.store(0, ordering: .relaxed)
        for sig in signals {
            signal(sig) { number in
                _ = TerminationSignals.received.compareExchange(expected: 0, desired: number, ordering: .relaxed)
            }
        }
    }

    /// The default action again for `signals`.
    public static func release(_ signals: [Int32]) {
        for sig in signals { signal(sig, SIG_DFL) }
    }

    /// The first signal caught, nil before any.
    public static var first: Int32? {
        let number = received.load(ordering: .relaxed)
        return number == 0 ? nil : number
    }

    /// Waits until a signal is caught and returns its number.
    public static func wait() async -> Int32 {
        while true {
            if let number = first { return number }
            try? await Task.sleep(for: pollInterval)
        }
    }

    static let pollInterval = Duration.milliseconds(50)
    /// Written only by the handler (and reset before it is installed); an atomic store is safe there.
    fileprivate static let received = Atomic<Int32>(0)
}

/// Runs `body` in a task that Ctrl-C cancels (once, with `message` on standard error), and returns
/// its result with whether it was interrupted. The work itself decides what a cancelled run keeps.
public func cancellingOnInterrupt<T: Sendable>(
    message: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> (value: T, interrupted: Bool) {
    TerminationSignals.catching([SIGINT])
    defer { TerminationSignals.release([SIGINT]) }
    let task = Task { try await body() }
    let watcher = Task {
        while !Task.isCancelled {
            if TerminationSignals.first != nil {
                FileHandle.standardError.write(Data("\n\(message)\n".utf8))
                task.cancel()
                return
            }
            try? await Task.sleep(for: TerminationSignals.pollInterval)
        }
    }
    defer { watcher.cancel() }
    let value = try await task.value
    return (value, task.isCancelled)
}

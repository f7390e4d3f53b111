import Foundation

/// Runs `body` in a task that Ctrl-C cancels (once, with `message` on standard error), and returns
/// its result with whether it was interrupted. The work itself decides what a cancelled run keeps.
public func cancellingOnInterrupt<T: Sendable>(
    message: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> (value: T, interrupted: Bool) {
    signal(SIGINT, SIG_IGN)
    defer { signal(SIGINT, SIG_DFL) }
    let task = Task { try await body() }
    let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
    interrupt.setEventHandler {
        FileHandle.standardError.write(Data("\n\(message)\n".utf8))
        task.cancel()
    }
    interrupt.resume()
    defer { interrupt.cancel() }
    let value = try await task.value
    return (value, task.isCancelled)
}

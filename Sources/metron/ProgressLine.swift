import Foundation
import MetronLoad
import MetronModel
import MetronSearch
import MetronSweep
import Synchronization

/// One status line at the bottom of a terminal (standard error), rewritten in place once a second and
/// whenever the sweep moves on; log lines are printed above it. Off the terminal nothing of it is
/// written, and log lines come out as before.
final class ProgressLine: Sendable {
    static let shared = ProgressLine()

    private struct State {
        var status: SweepProgress?
        var since = Date()
        var ticker: Task<Void, Never>?
    }

    private let state = Mutex(State())
    let enabled = isatty(STDERR_FILENO) == 1

    /// A log line, above the status line when there is one.
    func log(_ line: String) {
        state.withLock { s in
            guard enabled, s.status != nil else {
                FileHandle.standardError.write(Data((line + "\n").utf8))
                return
            }
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line + "\n" + render(s)).utf8))
        }
    }

    func update(_ progress: SweepProgress) {
        guard enabled else { return }
        state.withLock { s in
            s.status = progress
            s.since = Date()
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + render(s)).utf8))
            if s.ticker == nil {
                s.ticker = Task.detached { [self] in
                    while !Task.isCancelled {
                        try? await Task.sleep(nanoseconds: 1_000_000_000)
                        tick()
                    }
                }
            }
        }
    }

    /// Clears the line for good (the sweep is over).
    func finish() {
        state.withLock { s in
            s.ticker?.cancel()
            s.ticker = nil
            if enabled, s.status != nil { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            s.status = nil
        }
    }

    private func tick() {
        state.withLock { s in
            guard s.status != nil else { return }
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + render(s)).utf8))
        }
    }

    /// The status as of now; wider than the terminal would wrap and break the rewrite in place.
    private func render(_ s: State) -> String {
        guard let status = s.status else { return "" }
        return String(status.line(after: Date().timeIntervalSince(s.since)).prefix(max(20, Self.columns - 1)))
    }

    static var columns: Int {
        var size = winsize()
        return ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 100
    }
}

extension ProgressLine {
    /// `metron run`'s progress: one line on standard output, rewritten in place on a terminal.
    @Sendable static func printRunProgress(_ p: LoadProgress) {
        let line = String(format: "\r  %6.1f s  sent %d/%d  finished %d  in flight %d   ", p.elapsed, p.sent, p.planned,
                          p.finished, p.inFlight)
        FileHandle.standardOutput.write(Data(line.utf8))
    }
}

/// A line on standard error: progress and problems, kept apart from the results on standard output
/// (above the status line on a terminal).
@Sendable func log(_ line: String) {
    ProgressLine.shared.log(line)
}

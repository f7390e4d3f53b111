import CLinux
import Foundation

/// epoll over the engine's descriptors, with one timerfd that ends a wait at an absolute
/// CLOCK_MONOTONIC time (finer than epoll's millisecond timeout).
final class Epoll {
    /// Readiness as epoll reports it.
    struct Events: OptionSet {
        let rawValue: UInt32
        static let readable = Events(rawValue: EPOLLIN.rawValue)
        static let writable = Events(rawValue: EPOLLOUT.rawValue)
        static let error = Events(rawValue: EPOLLERR.rawValue)
        static let hangUp = Events(rawValue: EPOLLHUP.rawValue)
    }

    private let fd: Int32
    let timerFD: Int32
    private var watched = Set<Int32>()
    /// Filled by each wait; the C side caps a wait at 256 events.
    private var readyFDs = [Int32](repeating: 0, count: 256)
    private var readyMasks = [UInt32](repeating: 0, count: 256)

    init() throws {
        fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        try check(fd, "epoll_create1", .raise)
        timerFD = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_NONBLOCK | TFD_CLOEXEC))
        // Every property is set: a throw from here on runs deinit, which closes what was opened.
        try check(timerFD, "timerfd_create", .raise)
        try watch(timerFD, for: .readable, .raise)
    }

    deinit {
        closeLogged(fd, "close(epoll)")
        if timerFD >= 0 { closeLogged(timerFD, "close(timerfd)") }
    }

    /// Adds `fd` to the set, or changes what it is watched for.
    func watch<Failure>(_ fd: Int32, for events: Events, _ onFailure: OnFailure<Failure>) throws(Failure) {
        let (op, name) = watched.contains(fd) ? (EPOLL_CTL_MOD, "EPOLL_CTL_MOD") : (EPOLL_CTL_ADD, "EPOLL_CTL_ADD")
        guard try check(metron_epoll_ctl(self.fd, op, fd, events.rawValue), "epoll_ctl(\(name))", onFailure) else { return }
        watched.insert(fd)
    }

    func unwatch(_ fd: Int32) {
        guard watched.remove(fd) != nil else { return }
        let result = metron_epoll_ctl(self.fd, EPOLL_CTL_DEL, fd, 0)
        // curl can close a socket before it asks for it to be unwatched; the close took it out already.
        if result < 0, [EBADF, ENOENT].contains(metron_errno()) { return }
        check(result, "epoll_ctl(EPOLL_CTL_DEL)", .log("epoll drops a descriptor by itself when it is closed"))
    }

    /// Waits up to `timeoutMS` (-1: until something is ready); returns how many descriptors are ready,
    /// each then read with `ready(_:)`.
    func wait(timeoutMS: Int32) -> Int {
        let n = readyFDs.withUnsafeMutableBufferPointer { f in
            readyMasks.withUnsafeMutableBufferPointer { m in
                metron_epoll_wait(fd, f.baseAddress, m.baseAddress, Int32(f.count), timeoutMS)
            }
        }
        // A signal cut the wait short: the caller's loop waits again.
        if n < 0, metron_errno() == EINTR { return 0 }
        return check(n, "epoll_wait", .log("the caller's loop waits again")) ? Int(n) : 0
    }

    /// The `index`th descriptor the last wait found ready.
    func ready(_ index: Int) -> (fd: Int32, events: Events) {
        (readyFDs[index], Events(rawValue: readyMasks[index]))
    }

    /// Arms the timer to fire once at `seconds` (CLOCK_MONOTONIC); false when it could not be armed.
    @discardableResult
    func armTimer<Failure>(at seconds: Double, _ onFailure: OnFailure<Failure>) throws(Failure) -> Bool {
        try check(metron_timerfd_arm_absolute(timerFD, seconds), "timerfd_settime", onFailure)
    }

    /// Reads the counter of an eventfd or timerfd that epoll reported readable.
    static func drainCounter(_ fd: Int32, _ name: String) {
        var value: UInt64 = 0
        check(read(fd, &value, 8), "read(\(name))", .log("a counter left unread only wakes the next wait at once"))
    }
}

/// close(2) of a descriptor this module opened.
func closeLogged(_ fd: Int32, _ name: String) {
    check(close(fd), name, .log("the descriptor is released all the same"))
}

import CCurl
import CLinux
import MetronModel

/// libcurl's multi interface driven by `curl_multi_socket_action`: curl says through callbacks which
/// sockets `epoll` should watch and when it wants its timeout; the owner hands back readiness and gets
/// each finished transfer with its result.
final class CurlMulti {
    private let handle: UnsafeMutableRawPointer
    private let epoll: Epoll
    /// Absolute monotonic time at which curl wants `CURL_SOCKET_TIMEOUT`; nil when it has no timer.
    private(set) var timeoutDeadline: Double?

    init(epoll: Epoll) throws {
        guard let handle = curl_multi_init() else { throw LoadConfigurationError("curl_multi_init failed") }
        self.handle = handle
        self.epoll = epoll
        let me = Unmanaged.passUnretained(self).toOpaque()
        try check(metron_multi_set_socket_function(handle, socketCallback), "CURLMOPT_SOCKETFUNCTION", .raise)
        try check(metron_multi_set_ptr(handle, CURLMOPT_SOCKETDATA, me), "CURLMOPT_SOCKETDATA", .raise)
        try check(metron_multi_set_timer_function(handle, timerCallback), "CURLMOPT_TIMERFUNCTION", .raise)
        try check(metron_multi_set_ptr(handle, CURLMOPT_TIMERDATA, me), "CURLMOPT_TIMERDATA", .raise)
    }

    deinit {
        check(curl_multi_cleanup(handle), "curl_multi_cleanup", .log("the run is over: at worst curl's memory stays allocated"))
    }

    func add(_ easy: UnsafeMutableRawPointer) throws(CCallError) {
        try check(curl_multi_add_handle(handle, easy), "curl_multi_add_handle", .raise)
    }

    func remove(_ easy: UnsafeMutableRawPointer) {
        check(curl_multi_remove_handle(handle, easy), "curl_multi_remove_handle",
              .log("curl_easy_cleanup takes the handle out of the multi handle too"))
    }

    /// Hands curl a socket's readiness. A hang-up counts as readable, so curl reads what is left and then
    /// the end; an error alone makes curl fail the transfer with its own message.
    func socketReady(_ fd: Int32, _ events: Epoll.Events, finished: (Transfer, CURLcode) -> Void) {
        var mask: Int32 = 0
        if !events.isDisjoint(with: [.readable, .hangUp]) { mask |= CURL_CSELECT_IN }
        if events.contains(.writable) { mask |= CURL_CSELECT_OUT }
        if events.contains(.error) { mask |= CURL_CSELECT_ERR }
        act(socket: fd, mask: mask, finished: finished)
    }

    /// Runs curl's timeout now (new handles start this way), whether or not it is due.
    func timeout(finished: (Transfer, CURLcode) -> Void) {
        act(socket: CURL_SOCKET_TIMEOUT, mask: 0, finished: finished)
    }

    func timeoutIfDue(now: Double, finished: (Transfer, CURLcode) -> Void) {
        guard let due = timeoutDeadline, now >= due else { return }
        timeoutDeadline = nil
        timeout(finished: finished)
    }

    private func act(socket: curl_socket_t, mask: Int32, finished: (Transfer, CURLcode) -> Void) {
        var running: Int32 = 0
        check(curl_multi_socket_action(handle, socket, mask, &running), "curl_multi_socket_action",
              .log("its transfers end by their own timeouts or the run's drain"))
        var left: Int32 = 0
        while let message = curl_multi_info_read(handle, &left) {
            guard metron_msg_is_done(message) != 0, let easy = metron_msg_easy(message) else { continue }
            var pointer: UnsafeMutableRawPointer?
            check(metron_easy_get_private(easy, &pointer), "CURLINFO_PRIVATE",
                  .log("a transfer that cannot be found is cancelled at the run's drain"))
            guard let pointer else { continue }
            finished(Unmanaged<Transfer>.fromOpaque(pointer).takeUnretainedValue(), metron_msg_result(message))
        }
    }

    fileprivate func watch(socket fd: Int32, what: Int32) {
        if what == CURL_POLL_REMOVE {
            epoll.unwatch(fd)
            return
        }
        var events: Epoll.Events = []
        if what == CURL_POLL_IN || what == CURL_POLL_INOUT { events.insert(.readable) }
        if what == CURL_POLL_OUT || what == CURL_POLL_INOUT { events.insert(.writable) }
        epoll.watch(fd, for: events, .log("the socket's transfer ends at its timeout"))
    }

    fileprivate func setTimer(milliseconds: Int) {
        timeoutDeadline = milliseconds < 0 ? nil : monotonicSeconds() + Double(milliseconds) / 1000
    }
}

private let socketCallback: curl_socket_callback = { _, fd, what, userp, _ in
    guard let userp else { return 0 }
    Unmanaged<CurlMulti>.fromOpaque(userp).takeUnretainedValue().watch(socket: fd, what: what)
    return 0
}

private let timerCallback: curl_multi_timer_callback = { _, milliseconds, userp in
    guard let userp else { return 0 }
    Unmanaged<CurlMulti>.fromOpaque(userp).takeUnretainedValue().setTimer(milliseconds: milliseconds)
    return 0
}

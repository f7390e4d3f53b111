import CLinux
import Foundation

/// Real-time (SCHED_FIFO) priority for the calling thread, where the process is allowed it.
enum RealtimePriority {
    static let fifoPriority: Int32 = 50

    /// Nil on success; otherwise why it was refused, for the user.
    static func enable() -> String? {
        guard metron_set_fifo_priority(fifoPriority) != 0 else { return nil }
        let code = metron_errno()
        let reason = String(cString: strerror(code))
        return "real-time priority (SCHED_FIFO \(fifoPriority)) was refused: \(reason). Run as root or grant "
            + "CAP_SYS_NICE (e.g. `setcap cap_sys_nice+ep metron`, or `ulimit -r 99` where allowed); "
            + "the run continues at normal priority and its timer lateness is reported"
    }
}

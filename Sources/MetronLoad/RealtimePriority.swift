import CLinux
import Foundation

/// Real-time (SCHED_FIFO) priority for the calling thread, where the process is allowed it.
enum RealtimePriority {
    static let fifoPriority: Int32 = 50

    /// Nil on success; otherwise why it was refused, for the user.
    static func enable() -> String? {
        do throws(CCallError) {
            try check(metron_set_fifo_priority(fifoPriority), "sched_setscheduler", .raise)
            return nil
        } catch {
            return "real-time priority (SCHED_FIFO \(fifoPriority)) was refused: \(String(cString: strerror(error.errno ?? 0))). "
                + "Run as root or grant CAP_SYS_NICE (e.g. `setcap cap_sys_nice+ep metron`, or `ulimit -r 99` where "
                + "allowed); the run continues at normal priority and its timer lateness is reported"
        }
    }
}

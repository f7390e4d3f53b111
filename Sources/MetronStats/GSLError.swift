import CGSL

/// A GSL routine returned a non-zero status.
public struct GSLError: Error, CustomStringConvertible, Sendable {
    public let status: Int32
    public let routine: String
    public var description: String {
        let reason = gsl_strerror(status).map { String(cString: $0) } ?? "unknown error"
        return "\(routine): \(reason) (GSL status \(status))"
    }
}

enum GSL {
    /// GSL's default handler aborts the process; switch it off once, before any call.
    static let ready: Void = { metron_gsl_disable_abort() }()

    static func check(_ status: Int32, _ routine: String) throws {
        if status != GSL_SUCCESS { throw GSLError(status: status, routine: routine) }
    }
}

import CCurl
import CLinux
import Foundation
import Synchronization

/// A C call that failed: which call, and what libcurl or errno said.
struct CCallError: Error, CustomStringConvertible {
    var call: String
    var reason: String
    /// For a POSIX call, its errno.
    var errno: Int32?
    var description: String { "\(call) failed: \(reason)" }
}

/// A C function's result that tells whether the call worked.
protocol CResult {
    /// Nil on success; else what went wrong, and the errno of a POSIX call.
    var failure: (reason: String, errno: Int32?)? { get }
}

extension CURLcode: CResult {
    var failure: (reason: String, errno: Int32?)? {
        self == CURLE_OK ? nil : (String(cString: curl_easy_strerror(self)), nil)
    }
}

extension CURLMcode: CResult {
    var failure: (reason: String, errno: Int32?)? {
        self == CURLM_OK ? nil : (String(cString: curl_multi_strerror(self)), nil)
    }
}

/// POSIX style: a negative result is a failure, described by errno.
extension CResult where Self: BinaryInteger {
    var failure: (reason: String, errno: Int32?)? {
        guard self < 0 else { return nil }
        let code = metron_errno()
        return (describeErrno(code), code)
    }
}

/// The errno's symbol where it is one a client meets, and its text: "EMFILE: Too many open files".
func describeErrno(_ code: Int32) -> String {
    let name = metron_errno_name(code).map { String(cString: $0) } ?? "errno \(code)"
    return "\(name): \(String(cString: strerror(code)))"
}

extension Int32: CResult {}
/// ssize_t, as read(2) and write(2) return it.
extension Int: CResult {}
extension Int64: CResult {}

/// What a failed call means where it is made. Plain data, no closure: `check` runs on the engine
/// thread for every event, and must not allocate when the call worked.
struct OnFailure<Failure: Error> {
    fileprivate enum Action {
        case raise
        case log(String)
    }
    fileprivate let action: Action
}

extension OnFailure where Failure == CCallError {
    /// The caller cannot go on without the call: the failure is thrown.
    static var raise: OnFailure { OnFailure(action: .raise) }
}

extension OnFailure where Failure == Never {
    /// The caller can go on, for the reason given: the failure goes to standard error, once per
    /// distinct failure, since a call inside the event loop could otherwise fail on every turn.
    static func log(_ why: String) -> OnFailure { OnFailure(action: .log(why)) }
}

private let loggedFailures = Mutex<Set<String>>([])

/// The one place a C result is judged: true when the call worked; a failure is thrown or logged, as
/// `onFailure` says. `call` names the call, and is only built when it failed.
@discardableResult
func check<Result: CResult, Failure: Error>(
    _ result: Result, _ call: @autoclosure () -> String, _ onFailure: OnFailure<Failure>
) throws(Failure) -> Bool {
    guard let (reason, errno) = result.failure else { return true }
    let error = CCallError(call: call(), reason: reason, errno: errno)
    switch onFailure.action {
    case .raise:
        // `.raise` exists only where Failure is CCallError.
        throw error as! Failure
    case let .log(why):
        let line = "warning: \(error) (\(why))"
        guard loggedFailures.withLock({ $0.insert(line).inserted }) else { return false }
        FileHandle.standardError.write(Data((line + "\n").utf8))
        return false
    }
}

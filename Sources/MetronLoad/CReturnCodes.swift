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
    /// Nil on success.
    func failure(of call: String) -> CCallError?
}

extension CURLcode: CResult {
    func failure(of call: String) -> CCallError? {
        self == CURLE_OK ? nil : CCallError(call: call, reason: String(cString: curl_easy_strerror(self)))
    }
}

extension CURLMcode: CResult {
    func failure(of call: String) -> CCallError? {
        self == CURLM_OK ? nil : CCallError(call: call, reason: String(cString: curl_multi_strerror(self)))
    }
}

/// POSIX style: a negative result is a failure, described by errno.
extension CResult where Self: BinaryInteger {
    func failure(of call: String) -> CCallError? {
        guard self < 0 else { return nil }
        let code = metron_errno()
        return CCallError(call: call, reason: describeErrno(code), errno: code)
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

/// What a failed call means where it is made.
struct OnFailure<Failure: Error> {
    fileprivate let react: (CCallError) throws(Failure) -> Void
}

extension OnFailure where Failure == CCallError {
    /// The caller cannot go on without the call: the failure is thrown.
    static var raise: OnFailure { OnFailure { error throws(CCallError) in throw error } }
}

extension OnFailure where Failure == Never {
    /// The caller can go on, for the reason given: the failure goes to standard error, once per
    /// distinct failure, since a call inside the event loop could otherwise fail on every turn.
    static func log(_ why: String) -> OnFailure {
        OnFailure { error in
            let line = "warning: \(error) (\(why))"
            guard loggedFailures.withLock({ $0.insert(line).inserted }) else { return }
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }
}

private let loggedFailures = Mutex<Set<String>>([])

/// The one place a C result is judged: true when the call worked; a failure is thrown or logged, as
/// `onFailure` says.
@discardableResult
func check<Result: CResult, Failure: Error>(
    _ result: Result, _ call: String, _ onFailure: OnFailure<Failure>
) throws(Failure) -> Bool {
    guard let failure = result.failure(of: call) else { return true }
    try onFailure.react(failure)
    return false
}

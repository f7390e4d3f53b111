/// Empties a server's prompt-prefix cache, so a probe does not inherit the cache of the one before it.
public enum PrefixCacheReset {
    /// vLLM's endpoint, then SGLang's.
    public static let endpoints = ["/reset_prefix_cache", "/flush_cache"]

    /// POSTs to each endpoint in turn until one answers 2xx; false when the server has none of them.
    /// Throws when the server cannot be reached.
    public static func reset(target: ServerTarget, timeout: Double) throws -> Bool {
        let http = BlockingHTTP(target: target, timeout: timeout)
        return try endpoints.contains { (200..<300).contains(try http.post(url: target.rootURL + $0, body: []).status) }
    }
}

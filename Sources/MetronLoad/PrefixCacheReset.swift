/// Empties a server's prompt-prefix cache, so a probe does not inherit the cache of the one before it.
public enum PrefixCacheReset {
    /// vLLM's endpoint, then SGLang's.
    public static let endpoints = ["/reset_prefix_cache", "/flush_cache"]

    /// POSTs to each endpoint in turn until one answers 2xx and returns its path; nil when the server
    /// has none of them. Throws when the server cannot be reached.
    public static func reset(target: ServerTarget, timeout: Double) throws -> String? {
        let http = BlockingHTTP(target: target, timeout: timeout)
        for path in endpoints {
            let answer = try http.post(url: target.rootURL + path, body: [])
            if (200..<300).contains(answer.status) { return path }
        }
        return nil
    }
}

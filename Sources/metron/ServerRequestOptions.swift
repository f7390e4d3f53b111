import ArgumentParser
import Foundation
import MetronLoad

/// What every request to the server carries besides its prompt: headers, the API key, TLS checking
/// and the body's extra fields.
struct ServerRequestOptions: ParsableArguments {
    @Option(name: .customLong("header"), help: "Extra request header 'Name: value' (repeatable).")
    var headers: [String] = []

    @Option(help: "Name of an environment variable holding the API key (sent as a bearer token).")
    var apiKeyEnv: String?

    @Option(help: "File holding the API key (sent as a bearer token).")
    var apiKeyFile: String?

    @Flag(help: "Do not verify TLS certificates and host names.")
    var insecure = false

    @Option(help: "JSON object merged into every request body, e.g. '{\"temperature\":0}'.")
    var extraBody: String?

    @Flag(help: "Send ignore_eos: true so the server produces the full output length.")
    var ignoreEos = false

    @Flag(help: "Send min_tokens equal to max_tokens.")
    var minTokens = false

    @Flag(help: "Do not ask for usage in every chunk (stream_options.continuous_usage_stats), for servers that reject the field.")
    var noContinuousUsage = false

    func validate() throws {
        if apiKeyEnv != nil, apiKeyFile != nil { throw ValidationError("give --api-key-env or --api-key-file, not both") }
        // A value that cannot be a variable's name may be the key itself, given by mistake: not echoed.
        if let apiKeyEnv, !APIKeySource.isVariableName(apiKeyEnv) {
            throw ValidationError(
                "--api-key-env takes the name of an environment variable that holds the key; the value given is not a variable name (not shown)")
        }
        _ = try apiKey()
    }

    var shape: RequestShape {
        RequestShape(ignoreEOS: ignoreEos, minTokens: minTokens, extraBody: extraBody, continuousUsage: !noContinuousUsage)
    }

    func target(url: String, api: APIKind, model: String, apiKey: String?) -> ServerTarget {
        ServerTarget(url: url, api: api, model: model, headers: headers, apiKey: apiKey, insecure: insecure)
    }

    /// The key from the environment or a file, trimmed; never printed.
    func apiKey() throws -> String? {
        if let apiKeyEnv { return try read(.environment(apiKeyEnv), flag: "--api-key-env \(apiKeyEnv)") }
        if let apiKeyFile { return try read(.file(apiKeyFile), flag: "--api-key-file \(apiKeyFile)") }
        return nil
    }

    private func read(_ source: APIKeySource, flag: String) throws -> String {
        do { return try source.read() } catch { throw ValidationError("\(flag): \(error.reason)") }
    }
}

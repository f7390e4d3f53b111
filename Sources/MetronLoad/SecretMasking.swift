import Foundation

/// Removes secrets from a command line before it is recorded: values of key-like flags, header
/// values, key-like fields of `--extra-body`, passwords in URLs and arguments shaped like API keys.
public enum SecretMasking {
    public static let mask = "***"

    /// Words that name a secret ("api_key", "--auth-token", "X-Access-Token").
    private static let secretWords: Set<String> = [
        "key", "apikey", "token", "secret", "password", "passwd", "pwd", "auth", "authorization", "credential",
        "credentials", "bearer", "cookie",
    ]

    /// Flags whose value is a header or a JSON body, masked in part.
    private static let headerFlag = "--header"
    private static let extraBodyFlag = "--extra-body"

    public static func commandLine(_ arguments: [String]) -> [String] {
        var masked: [String] = []
        var valueOf: String?   // the flag whose value is the next argument
        for argument in arguments {
            if let flag = valueOf {
                masked.append(value(argument, of: flag))
                valueOf = nil
            } else if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
                let flag = String(argument[..<equals])
                masked.append(flag + "=" + value(String(argument[argument.index(after: equals)...]), of: flag))
            } else if argument.hasPrefix("--") {
                masked.append(argument)
                if flagHoldsSecret(argument) || argument == headerFlag || argument == extraBodyFlag { valueOf = argument }
            } else {
                masked.append(plain(argument))
            }
        }
        return masked
    }

    /// A flag's last word decides: `--api-key` and `--hf-token` hold secrets, `--api-key-env` (a
    /// variable's name) and `--first-token-timeout` do not.
    static func flagHoldsSecret(_ flag: String) -> Bool {
        words(flag).last.map(secretWords.contains) ?? false
    }

    /// Any word decides for a JSON field: `api_key`, `access_token`; not `max_tokens`.
    static func fieldHoldsSecret(_ name: String) -> Bool {
        words(name).contains(where: secretWords.contains)
    }

    private static func words(_ name: String) -> [String] {
        var words: [String] = [], current = ""
        for c in name {
            if c.isUppercase, !current.isEmpty, current.last?.isLowercase == true {
                words.append(current)
                current = ""
            }
            if c.isLetter || c.isNumber { current.append(Character(c.lowercased())) } else if !current.isEmpty {
                words.append(current)
                current = ""
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    private static func value(_ value: String, of flag: String) -> String {
        if flag == headerFlag {
            guard let colon = value.firstIndex(of: ":") else { return mask }
            return value[..<colon] + ": " + mask
        }
        if flag == extraBodyFlag { return jsonWithoutSecrets(value) }
        return flagHoldsSecret(flag) ? mask : plain(value)
    }

    /// An argument no flag explains: URLs lose their credentials, key-shaped values are masked.
    private static func plain(_ argument: String) -> String {
        if argument.hasPrefix("sk-") || argument.lowercased().hasPrefix("bearer ") { return mask }
        return argument.contains("://") ? ServerTarget.withoutCredentials(argument) : argument
    }

    /// The JSON with every secret-named field's value masked; text that is not JSON is masked whole,
    /// since what it holds cannot be told.
    static func jsonWithoutSecrets(_ text: String) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]),
              let data = try? JSONSerialization.data(withJSONObject: masked(object), options: [.sortedKeys, .fragmentsAllowed])
        else { return mask }
        return String(decoding: data, as: UTF8.self)
    }

    private static func masked(_ value: Any) -> Any {
        if let object = value as? [String: Any] {
            return Dictionary(uniqueKeysWithValues: object.map { ($0.key, fieldHoldsSecret($0.key) ? mask : masked($0.value)) })
        }
        if let array = value as? [Any] { return array.map(masked) }
        return value
    }
}

import Yams

/// One key of a settings block of the sweep file, read into one field of `Settings`. A block's keys
/// are a list of these, so each key is named once; its default is the field's initial value in
/// `Settings()`.
struct SettingKey<Settings> {
    let name: String
    /// Reads the key's node at `path` into the settings, or reports a problem and leaves them as they are.
    let read: (YAMLReader, Node, String, inout Settings) -> Void

    static func number(_ name: String, _ field: WritableKeyPath<Settings, Double>, _ bounds: YAMLReader.Bound...,
                       unit: String = "") -> Self {
        Self(name: name) { reader, node, path, settings in
            if let v = reader.number(node, path, bounds: bounds, unit: unit) { settings[keyPath: field] = v }
        }
    }

    static func number(_ name: String, _ field: WritableKeyPath<Settings, Double?>, _ bounds: YAMLReader.Bound...,
                       unit: String = "") -> Self {
        Self(name: name) { reader, node, path, settings in
            if let v = reader.number(node, path, bounds: bounds, unit: unit) { settings[keyPath: field] = v }
        }
    }

    static func integer(_ name: String, _ field: WritableKeyPath<Settings, Int>, atLeast minimum: Int) -> Self {
        Self(name: name) { reader, node, path, settings in
            if let v = reader.integer(node, path, atLeast: minimum) { settings[keyPath: field] = v }
        }
    }

    static func integer(_ name: String, _ field: WritableKeyPath<Settings, Int?>, atLeast minimum: Int) -> Self {
        Self(name: name) { reader, node, path, settings in
            if let v = reader.integer(node, path, atLeast: minimum) { settings[keyPath: field] = v }
        }
    }

    static func bool(_ name: String, _ field: WritableKeyPath<Settings, Bool>) -> Self {
        Self(name: name) { reader, node, path, settings in
            if let v = reader.bool(node, path) { settings[keyPath: field] = v }
        }
    }
}

extension YAMLReader {
    /// A settings block read key by key from `keys`; nil when the node is not a mapping (reported).
    func settings<Settings>(_ node: Node, _ path: String, keys: [SettingKey<Settings>], into settings: inout Settings) -> [String: Node]? {
        guard let m = mapping(node, path, known: keys.map(\.name)) else { return nil }
        for key in keys {
            if let n = m[key.name] { key.read(self, n, "\(path).\(key.name)", &settings) }
        }
        return m
    }
}

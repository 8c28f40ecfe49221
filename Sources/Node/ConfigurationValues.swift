/// Configuration values after layering defaults, then `server.conf`, then `QDB_*` environment
/// variables (QuestDB's precedence), each remembering where it came from for error messages.
package struct ConfigurationValues: Sendable {
    private struct Value: Sendable {
        var text: String
        /// `nil` for a default.
        var source: ConfigurationError.Source?
    }

    private var values: [String: Value] = [:]
    /// Non-fatal findings (ignored QuestDB keys, unknown `QDB_*` variables), logged at startup.
    package private(set) var warnings: [String] = []

    /// Layers `file` (path and text) and `environment` over the defaults; an unknown key in the
    /// file stops startup, an unknown `QDB_*` variable is only a warning.
    package init(file: (path: String, text: String)?, environment: [String: String]) throws(ConfigurationError) {
        for key in ConfigurationKey.all { values[key.name] = Value(text: key.defaultValue, source: nil) }
        if let file { try apply(file: file.path, text: file.text) }
        applyEnvironment(environment)
    }

    private mutating func apply(file path: String, text: String) throws(ConfigurationError) {
        var seen: [String: Int] = [:]
        for entry in PropertiesFile.parse(text) {
            let source = ConfigurationError.Source.file(path: path, line: entry.line)
            guard let key = ConfigurationKey.named(entry.key) else {
                if ConfigurationKey.ignoredQuestDBKeys.contains(entry.key) {
                    warnings.append("\(path):\(entry.line): ignoring QuestDB key \(entry.key): it has no effect in Sundial")
                    continue
                }
                throw ConfigurationError(source: source, key: entry.key, ConfigurationValues.unknownKeyMessage(entry.key))
            }
            if let earlier = seen[key.name] {
                warnings.append("\(path):\(entry.line): \(entry.key) is set again (first on line \(earlier)); the later value wins")
            }
            seen[key.name] = entry.line
            values[key.name] = Value(text: entry.value, source: source)
        }
    }

    private mutating func applyEnvironment(_ environment: [String: String]) {
        var known: [String: ConfigurationKey] = [:]
        for key in ConfigurationKey.all {
            for name in [key.name] + key.aliases { known[ConfigurationKey.environmentName(of: name)] = key }
        }
        for (variable, text) in environment.sorted(by: { $0.key < $1.key }) where variable.hasPrefix("QDB_") {
            if let key = known[variable] {
                values[key.name] = Value(text: text, source: .environment(variable: variable))
            } else {
                warnings.append("ignoring environment variable \(variable): it names no Sundial configuration key")
            }
        }
    }

    private static func unknownKeyMessage(_ name: String) -> String {
        var message = "unknown configuration key"
        let candidates = ConfigurationKey.all.map(\.name)
        if let closest = candidates.min(by: { editDistance($0, name) < editDistance($1, name) }),
           editDistance(closest, name) <= 3
        {
            message += " (did you mean \(closest)?)"
        }
        return message + "; every key is listed in Docs/configuration.md"
    }

    // MARK: Typed access

    package func boolean(_ name: String) throws(ConfigurationError) -> Bool {
        let (key, value) = lookup(name)
        switch value.text.lowercased() {
        case "true": return true
        case "false": return false
        default: throw invalid(key, value)
        }
    }

    package func integer(_ name: String) throws(ConfigurationError) -> Int64 {
        let (key, value) = lookup(name)
        guard case .integer(let range) = key.kind, let number = Int64(value.text), range.contains(number) else {
            throw invalid(key, value)
        }
        return number
    }

    package func byteSize(_ name: String) throws(ConfigurationError) -> Int64 {
        let (key, value) = lookup(name)
        let units: [(String, Int64)] = [("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30)]
        guard case .byteSize(let range) = key.kind, let number = scaled(value.text, units: units), range.contains(number)
        else { throw invalid(key, value) }
        return number
    }

    package func milliseconds(_ name: String) throws(ConfigurationError) -> Int64 {
        let (key, value) = lookup(name)
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        guard case .milliseconds(let range) = key.kind, let number = scaled(value.text, units: units),
              range.contains(number)
        else { throw invalid(key, value) }
        return number
    }

    package func address(_ name: String) throws(ConfigurationError) -> (host: String, port: Int) {
        let (key, value) = lookup(name)
        guard let address = ConfigurationValues.parseAddress(value.text) else { throw invalid(key, value) }
        return address
    }

    /// Where the value of `name` came from (`nil`: its default), for errors about pairs of keys.
    package func source(_ name: String) -> ConfigurationError.Source? {
        lookup(name).1.source
    }

    package func text(_ name: String) -> String {
        lookup(name).1.text
    }

    package func choice(_ name: String) throws(ConfigurationError) -> String {
        let (key, value) = lookup(name)
        guard case .choice(let options) = key.kind, options.contains(value.text.lowercased()) else {
            throw invalid(key, value)
        }
        return value.text.lowercased()
    }

    private func lookup(_ name: String) -> (ConfigurationKey, Value) {
        guard let key = ConfigurationKey.named(name), let value = values[key.name] else {
            preconditionFailure("configuration key \(name) is read but not registered in ConfigurationKey.all")
        }
        return (key, value)
    }

    private func invalid(_ key: ConfigurationKey, _ value: Value) -> ConfigurationError {
        let message = "'\(value.text)' is not valid; expected \(key.expectedForm)"
        guard let source = value.source else {
            preconditionFailure("default of \(key.name) is invalid: \(message)")
        }
        return ConfigurationError(source: source, key: key.name, message)
    }

    /// `123`, `64k`, `5s`: a non-negative integer with an optional unit from `units`.
    private func scaled(_ text: String, units: [(String, Int64)]) -> Int64? {
        let lowered = text.lowercased()
        let digits = lowered.prefix { $0.isASCII && $0.isNumber }
        let suffix = lowered.dropFirst(digits.count)
        guard !digits.isEmpty, let number = Int64(digits) else { return nil }
        if suffix.isEmpty { return number }
        guard let unit = units.first(where: { $0.0 == suffix }) else { return nil }
        let (product, overflow) = number.multipliedReportingOverflow(by: unit.1)
        return overflow ? nil : product
    }

    /// `host:port` or `[v6]:port`, port 0–65535 (0 picks a free port).
    static func parseAddress(_ text: String) -> (host: String, port: Int)? {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return nil }
        }
        guard !host.isEmpty, !host.contains(where: \.isWhitespace),
              portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText), (0...65535).contains(port)
        else { return nil }
        return (String(host), port)
    }
}

/// Levenshtein distance, for "did you mean" on unknown keys.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.utf8)
    let b = Array(b.utf8)
    if a.isEmpty { return b.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...max(b.count, 1) where j <= b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}

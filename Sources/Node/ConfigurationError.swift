/// A configuration problem that stops startup, described in one line naming where it came from
/// (file and line, or environment variable), the key, and the expected form.
package struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    package enum Source: Sendable, Equatable {
        case file(path: String, line: Int)
        case environment(variable: String)
        case unreadableFile(path: String)
    }

    package var source: Source
    package var key: String
    package var message: String

    package init(source: Source, key: String, _ message: String) {
        self.source = source
        self.key = key
        self.message = message
    }

    package var description: String {
        switch source {
        case .file(let path, let line): "configuration error: \(path):\(line): \(key): \(message)"
        case .environment(let variable): "configuration error: \(variable) (\(key)): \(message)"
        case .unreadableFile(let path): "configuration error: cannot read configuration file \(path): \(message)"
        }
    }
}

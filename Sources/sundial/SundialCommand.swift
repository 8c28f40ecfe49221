import ArgumentParser
import HTTPAPI
import Logging
import Node
import Storage

#if canImport(Glibc)
import Glibc
#endif

/// The `sundial` executable: a QuestDB-compatible, replicated time-series database node.
@main
struct SundialCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sundial",
        abstract: "A QuestDB-compatible, replicated time-series database node.",
        subcommands: [ServeCommand.self, VersionCommand.self])
}

/// `sundial serve --data-dir DIR [--config FILE]`.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run a node until SIGTERM or SIGINT.")

    @Option(name: .long, help: "Data directory; created with its layout on first start.")
    var dataDir: String = "./sundial-data"

    @Option(name: .long, help: "Configuration file (default: DATA_DIR/conf/server.conf when present).")
    var config: String?

    func run() async throws {
        let dataDirectory = DataDirectory(root: dataDir)
        let configuration: NodeConfiguration
        do {
            configuration = try NodeConfiguration.load(
                explicitPath: config, dataDirectory: dataDirectory, environment: ProcessEnvironment.variables())
        } catch {
            fail("\(error)", exitCode: 2)
        }
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        do {
            try await SundialNode(configuration: configuration, dataDirectory: dataDirectory).run()
        } catch let error as StorageError {
            fail("cannot open data directory: \(error)", exitCode: 1)
        } catch let error as HTTPServerBindError {
            fail("\(error)", exitCode: 1)
        }
    }

    /// One line on standard error, then exit: startup failures are read by people and scripts.
    private func fail(_ message: String, exitCode: Int32) -> Never {
        let line = Array("sundial: \(message)\n".utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        Glibc.exit(exitCode)
    }
}

/// `sundial version`.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

    func run() {
        print("sundial \(SundialVersion.current)")
    }
}

/// The process environment as a dictionary.
enum ProcessEnvironment {
    static func variables() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}

import ArgumentParser
import HTTPAPI
import LineProtocol
import PostgresWire
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
        subcommands: [ServeCommand.self, DumpCommand.self, VersionCommand.self])
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
        } catch let error as LineTCPBindError {
            fail("\(error)", exitCode: 1)
        } catch let error as PGBindError {
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

/// `sundial dump --data-dir DIR TABLE`: a stopped node's table as JSON (schema and rows), for
/// inspection and for tests until SQL exists. Replays the WAL like a start does.
struct DumpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump", abstract: "Print a table of a stopped node as JSON.")

    @Option(name: .long, help: "Data directory of a node that is not running.")
    var dataDir: String = "./sundial-data"

    @Argument(help: "Table name (case-insensitive).")
    var table: String

    func run() async throws {
        let layout = DataDirectory(root: dataDir)
        do {
            let opened = try layout.open(initialRole: .standalone)
            let engine = try StorageEngine(layout: layout, configuration: StorageConfiguration())
            engine.waitForApplier()
            guard let snapshot = engine.snapshot(ofTable: table) else {
                printError("sundial: table does not exist [table=\(table)]")
                Glibc.exit(1)
            }
            let columns = snapshot.schema.columns.map {
                "{\"name\":\(JSONText.quoted($0.name)),\"type\":\(JSONText.quoted("\($0.type)"))}"
            }
            let designated = snapshot.schema.designatedTimestamp.flatMap { id in snapshot.schema.column(id: id)?.name }
            var out = "{\"table\":\(JSONText.quoted(snapshot.schema.name)),\"partitionBy\":\(JSONText.quoted("\(snapshot.schema.partitionBy)")),"
            out += "\"designatedTimestamp\":\(designated.map(JSONText.quoted) ?? "null"),\"columns\":[\(columns.joined(separator: ","))],\"rows\":["
            out += try SnapshotText.rows(snapshot).map { row in
                "[" + snapshot.schema.columns.map { column in (row[column.name] ?? nil).map(JSONText.quoted) ?? "null" }.joined(separator: ",") + "]"
            }.joined(separator: ",")
            print(out + "]}")
            withExtendedLifetime(opened) {}
        } catch {
            printError("sundial: cannot dump \(table): \(error)")
            Glibc.exit(1)
        }
    }

    private func printError(_ message: String) {
        let line = Array((message + "\n").utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
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

// SQL behaviour as data (sqllogictest style): every file under Cases/ runs against a fresh
// storage engine, statement by statement, comparing rows, column types and errors.
import SQL
import Storage
import Testing
import TestSupport

/// One record of a case file.
struct LogicRecord {
    enum Expectation {
        case ok
        /// Message substring and, when given, the exact 0-based position.
        case error(String, position: Int?)
        /// Expected rows (`|`-separated text, NULL as `NULL`), optionally a header line
        /// `name:TYPE|…` first.
        case rows([String], header: Bool, sorted: Bool)
    }

    var sql: String
    var expectation: Expectation
    var line: Int
}

enum LogicFile {
    static let directory: String = {
        let file = #filePath
        return String(file[..<file.lastIndex(of: "/")!]) + "/Cases"
    }()

    static var names: [String] {
        ((try? ColumnFiles.entries(of: directory)) ?? []).filter { $0.hasSuffix(".test") }.sorted()
    }

    static func records(_ name: String) throws -> [LogicRecord] {
        let text = try String(decoding: readFile(directory + "/" + name), as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var records: [LogicRecord] = []
        var index = 0
        while index < lines.count {
            let line = lines[index].trimmingSpaces
            index += 1
            if line.isEmpty || line.hasPrefix("#") { continue }
            let start = index
            var sqlLines: [String] = []
            while index < lines.count, !lines[index].trimmingSpaces.isEmpty, lines[index] != "----" {
                sqlLines.append(lines[index])
                index += 1
            }
            let sql = sqlLines.joined(separator: "\n")
            if line == "statement ok" {
                records.append(LogicRecord(sql: sql, expectation: .ok, line: start))
            } else if line.hasPrefix("statement error") || line.hasPrefix("query error") {
                var message = line.replacingOccurrences("statement error", "").replacingOccurrences("query error", "").trimmingSpaces
                var position: Int?
                if message.hasPrefix("@"), let space = message.firstIndex(of: " ") ?? Optional(message.endIndex) {
                    position = Int(message[message.index(after: message.startIndex)..<space])
                    message = String(message[space...]).trimmingSpaces
                }
                records.append(LogicRecord(sql: sql, expectation: .error(message, position: position), line: start))
            } else if line.hasPrefix("query") {
                var rows: [String] = []
                if index < lines.count, lines[index] == "----" {
                    index += 1
                    while index < lines.count, !lines[index].isEmpty {
                        rows.append(lines[index])
                        index += 1
                    }
                }
                records.append(LogicRecord(
                    sql: sql, expectation: .rows(rows, header: line.contains("header"), sorted: line.contains("rowsort")), line: start))
            } else {
                Issue.record("\(name):\(index): unknown record '\(line)'")
            }
        }
        return records
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        try DurableFile.read(path, maxBytes: 16 << 20) ?? []
    }
}

extension String {
    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed())
    }

    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        replacing(target, with: replacement)
    }
}

/// Runs case files against a fresh engine.
final class LogicFixture {
    let directory = TemporaryDirectory(prefix: "sundial-sql")
    let storage: StorageEngine
    let sql: SQLEngine
    let opened: OpenDataDirectory

    /// `now()` is fixed so that cases using it are repeatable.
    static let now: Int64 = 1_700_000_000_000_000

    /// `parallel`: every aggregation over a table splits its scan in two (exercising the merge)
    /// and symbol filters use postings; otherwise one thread and plain column scans.
    init(parallel: Bool) throws {
        let layout = DataDirectory(root: directory.path)
        opened = try layout.open(initialRole: .standalone)
        var storageConfiguration = StorageConfiguration()
        storageConfiguration.columnConverter = CastColumnConverter()
        storage = try StorageEngine(layout: layout, configuration: storageConfiguration)
        var configuration = SQLConfiguration()
        configuration.maxQueryMemoryBytes = 256 << 20
        configuration.scanThreads = parallel ? 2 : 1
        configuration.parallelScanMinRows = 1
        configuration.symbolPostingsCacheBytes = parallel ? 64 << 20 : 0
        sql = SQLEngine(storage: storage, configuration: configuration, nowMicros: { LogicFixture.now })
    }

    static func render(_ result: QueryResult) -> [String] {
        // A value with line breaks (SHOW CREATE TABLE) spans several expected lines.
        result.textRows().flatMap { row in
            row.map { $0 ?? "NULL" }.joined(separator: "|").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        }
    }

    func run(_ record: LogicRecord, file: String) async {
        let location = "\(file):\(record.line)"
        do {
            let outcome = try await sql.execute(record.sql)
            switch record.expectation {
            case .ok:
                break
            case .error(let message, _):
                Issue.record("\(location): expected error '\(message)', statement succeeded\n\(record.sql)")
            case .rows(let expected, let header, let sorted):
                guard case .rows(let result) = outcome else {
                    Issue.record("\(location): expected rows, got \(outcome)")
                    return
                }
                var actual = Self.render(result)
                if sorted { actual.sort() }
                if header {
                    actual.insert(result.columns.map { "\($0.name):\($0.type)" }.joined(separator: "|"), at: 0)
                }
                if actual != expected {
                    Issue.record("\(location): rows differ\n\(record.sql)\nexpected:\n\(expected.joined(separator: "\n"))\nactual:\n\(actual.joined(separator: "\n"))")
                }
            }
        } catch {
            switch record.expectation {
            case .error(let message, let position):
                if !error.message.contains(message) {
                    Issue.record("\(location): error '\(error.message)' does not contain '\(message)'\n\(record.sql)")
                }
                if let position, error.position != position {
                    Issue.record("\(location): error position \(String(describing: error.position)), expected \(position)\n\(record.sql)")
                }
            default:
                Issue.record("\(location): unexpected error \(error.code): \(error)\n\(record.sql)")
            }
        }
    }
}

@Test(arguments: LogicFile.names, [false, true])
func sqlLogic(file: String, parallel: Bool) async throws {
    let fixture = try LogicFixture(parallel: parallel)
    let records = try LogicFile.records(file)
    #expect(!records.isEmpty, "\(file) has no records")
    for record in records { await fixture.run(record, file: file) }
}

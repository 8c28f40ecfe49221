import Storage

/// Options of one CSV import (`/imp` parameters, QUESTDB-COMPAT §3.3).
package struct CSVImportOptions: Sendable {
    package enum Atomicity: String, Sendable {
        /// A bad value becomes NULL in its column (QuestDB's default).
        case skipColumn = "skipCol"
        /// A row with a bad value is left out.
        case skipRow
        /// The first bad value stops the import with an error.
        case abort
    }

    /// A column declared by the `schema` part: type and, for timestamps, a pattern.
    package struct DeclaredColumn: Sendable {
        package var name: String
        package var type: String
        package var pattern: String?

        package init(name: String, type: String, pattern: String?) {
            self.name = name
            self.type = type
            self.pattern = pattern
        }
    }

    package var table: String
    package var partitionBy: String?
    package var timestamp: String?
    package var overwrite = false
    package var atomicity = Atomicity.skipColumn
    package var delimiter: UInt8?
    package var forceHeader = false
    package var create = true
    package var declared: [DeclaredColumn] = []

    package init(table: String) { self.table = table }
}

/// What an import did, for `/imp`'s JSON and text replies.
package struct CSVImportReport: Sendable {
    package struct Column: Sendable {
        package var name: String
        package var type: String
        package var size: Int
        package var errors: Int
    }

    package var table: String
    package var rowsImported = 0
    package var rowsRejected = 0
    package var header = false
    package var partitionBy = "NONE"
    package var timestamp: String?
    package var warnings: [String] = []
    package var columns: [Column] = []
}

/// Streams CSV into a table: the first records are sampled to detect the header and infer
/// column types (or the existing table's schema is used), then rows are converted and
/// committed in batches, so a file of any size needs bounded memory.
package final class CSVImport {
    private let engine: SQLEngine
    private let options: CSVImportOptions
    private var reader: CSVRecordReader?
    private var sample: [[String?]] = []
    private var target: Target?
    private var batch: RowBatch?
    private var lastTxn: UInt64 = 0
    private var report: CSVImportReport
    private static let sampleRecords = 200
    static let commitBytes = 16 << 20

    /// The table being written: its schema and, per CSV field, the table column it goes to.
    private struct Target {
        var schema: TableSchema
        var columnForField: [Int?]
        var patterns: [Int: DatePattern]
        /// Index of the designated timestamp among the schema's columns.
        var timestampColumn: Int?
    }

    package init(engine: SQLEngine, options: CSVImportOptions) {
        self.engine = engine
        self.options = options
        self.report = CSVImportReport(table: options.table)
    }

    package func feed(_ bytes: [UInt8]) async throws(SQLError) {
        var bytes = bytes
        if reader == nil {
            // A UTF-8 byte order mark (spreadsheet exports) is not part of the first name.
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
            reader = CSVRecordReader(delimiter: options.delimiter ?? Self.detectDelimiter(bytes))
        }
        let records: [[String?]]
        do { records = try reader!.feed(bytes) } catch { throw Self.readError(error) }
        try await take(records)
    }

    package func finish() async throws(SQLError) -> CSVImportReport {
        if var reader {
            let records: [[String?]]
            do { records = try reader.finish() } catch { throw Self.readError(error) }
            self.reader = reader
            try await take(records)
        }
        if target == nil { try await prepare() }
        try await flush()
        if lastTxn > 0 { await engine.storage.waitUntilApplied(lastTxn) }
        return report
    }

    private static func readError(_ error: CSVRecordReader.Failure) -> SQLError {
        switch error {
        case .recordTooLong(let line, let limit):
            SQLError(.limitExceeded, "CSV record at line \(line) is longer than \(limit) bytes (unbalanced quote?)")
        }
    }

    /// The delimiter of the first line: the most frequent of `,` tab `|` `;` outside quotes.
    static func detectDelimiter(_ bytes: [UInt8]) -> UInt8 {
        var counts: [UInt8: Int] = [:]
        var inQuotes = false
        for byte in bytes.prefix(64 << 10) {
            if byte == UInt8(ascii: "\"") { inQuotes.toggle() }
            if byte == UInt8(ascii: "\n"), !inQuotes { break }
            if !inQuotes, [UInt8(ascii: ","), UInt8(ascii: "\t"), UInt8(ascii: "|"), UInt8(ascii: ";")].contains(byte) {
                counts[byte, default: 0] += 1
            }
        }
        return counts.max { $0.value < $1.value }?.key ?? UInt8(ascii: ",")
    }

    private func take(_ records: [[String?]]) async throws(SQLError) {
        guard !records.isEmpty else { return }
        if target == nil {
            sample.append(contentsOf: records)
            if sample.count >= Self.sampleRecords { try await prepare() }
            return
        }
        for record in records { try await write(record) }
    }

    // MARK: Schema

    private func prepare() async throws(SQLError) {
        let storage = engine.storage
        var existing = storage.schema(named: options.table)
        if existing != nil, options.overwrite {
            do { try await storage.dropTable(options.table) } catch { throw DataDefinition.storageError(error) }
            existing = nil
        }
        let width = sample.map(\.count).max() ?? 0
        var types = (0..<width).map { column in Self.inferType(sample.dropFirst().map { column < $0.count ? $0[column] : nil }) }
        // A first record naming every declared column is a header too.
        let namesDeclared = !options.declared.isEmpty && options.declared.allSatisfy { declared in
            sample.first?.contains { $0?.lowercased() == declared.name.lowercased() } ?? false
        }
        let header = options.forceHeader || namesDeclared || Self.looksLikeHeader(sample.first, types: types, existing: existing)
        if !header { types = (0..<width).map { column in Self.inferType(sample.map { column < $0.count ? $0[column] : nil }) } }
        report.header = header
        var names = (0..<width).map { "f\($0)" }
        if header, let first = sample.first {
            for (index, value) in first.enumerated() where !(value ?? "").isEmpty { names[index] = value! }
        }
        var patterns: [Int: DatePattern] = [:]
        for declared in options.declared {
            guard let index = names.firstIndex(where: { $0.lowercased() == declared.name.lowercased() }) else { continue }
            let type = try TypeNames.resolve(ColumnTypeName(name: declared.type.lowercased(), parameter: nil, arrayDimensions: 0, position: 0))
            types[index] = type
            if let pattern = declared.pattern { patterns[index] = DatePattern(pattern) }
        }
        let schema: TableSchema
        var columnForField: [Int?]
        if let existing {
            schema = existing
            if header {
                columnForField = try names.map { (name) throws(SQLError) -> Int? in
                    guard let index = existing.columns.firstIndex(where: { $0.name.lowercased() == name.lowercased() }) else {
                        throw SQLError(.undefinedColumn, "column '\(name)' of the CSV does not exist in table '\(existing.name)'")
                    }
                    return index
                }
            } else {
                columnForField = (0..<width).map { $0 < existing.columns.count ? $0 : nil }
            }
            report.warnings.append("Existing table columns are used")
            if options.timestamp != nil, existing.designatedTimestamp != nil {
                report.warnings.append("Existing table timestamp column is used")
            }
        } else {
            guard options.create else { throw SQLError(.undefinedTable, "table does not exist [table=\(options.table)]") }
            schema = try await createTable(names: names, types: types)
            columnForField = Array(0..<width)
        }
        report.table = schema.name
        report.partitionBy = schema.partitionBy.description
        report.timestamp = schema.designatedTimestamp.flatMap { schema.column(id: $0)?.name }
        report.columns = schema.columns.map { .init(name: $0.name, type: $0.type.description, size: $0.type.fixedWidthBytes ?? 0, errors: 0) }
        target = Target(
            schema: schema, columnForField: columnForField, patterns: patterns,
            timestampColumn: schema.columns.firstIndex { $0.id == schema.designatedTimestamp })
        batch = RowBatch(schema: schema)
        let records = header ? Array(sample.dropFirst()) : sample
        sample = []
        for record in records { try await write(record) }
    }

    private func createTable(names: [String], types: [ColumnType]) async throws(SQLError) -> TableSchema {
        guard NameRules.isValidTableName(options.table) else {
            throw SQLError(.invalidValue, "invalid table name [table=\(options.table)]")
        }
        var columns: [ColumnSchema] = []
        var seen = Set<String>()
        for (index, name) in names.enumerated() {
            guard NameRules.isValidColumnName(name), seen.insert(name.lowercased()).inserted else {
                throw SQLError(.invalidValue, "invalid or duplicate column name in CSV header: '\(name)'")
            }
            columns.append(ColumnSchema(id: UInt32(index + 1), name: name, type: types[index]))
        }
        var designated: UInt32?
        if let timestamp = options.timestamp {
            guard let index = columns.firstIndex(where: { $0.name.lowercased() == timestamp.lowercased() }) else {
                throw SQLError(.undefinedColumn, "timestamp column '\(timestamp)' is not in the CSV")
            }
            if !columns[index].type.canBeDesignatedTimestamp { columns[index].type = .timestamp }
            designated = columns[index].id
        }
        var partitionBy = PartitionBy.none
        if let unit = options.partitionBy?.uppercased() {
            guard let parsed = PartitionBy.allCases.first(where: { $0.description == unit }) else {
                throw SQLError(.invalidValue, "invalid partitionBy")
            }
            if parsed != .none, designated == nil {
                throw SQLError(.invalidValue, "when specifying partitionBy you must also specify timestamp")
            }
            partitionBy = parsed
        }
        let requested = TableSchema(tableID: 0, name: options.table, columns: columns, designatedTimestamp: designated, partitionBy: partitionBy)
        do { return try await engine.storage.createTable(requested) } catch { throw DataDefinition.storageError(error) }
    }

    /// The narrowest type every non-empty sample value parses as; VARCHAR when none fits.
    static func inferType(_ values: [String?]) -> ColumnType {
        let present = values.compactMap { $0 }.filter { !$0.isEmpty }
        guard !present.isEmpty else { return .varchar }
        if present.allSatisfy({ ["true", "false"].contains($0.lowercased()) }) { return .boolean }
        let integers = present.map { Int64($0) }
        if integers.allSatisfy({ $0 != nil }) {
            return integers.allSatisfy { $0! > Int64(Int32.min) && $0! <= Int64(Int32.max) } ? .int : .long
        }
        if present.allSatisfy({ Double($0) != nil && $0.first.map { $0.isNumber || $0 == "-" || $0 == "." } == true }) { return .double }
        if present.allSatisfy({ $0.count >= 10 && TimestampText.parse($0) != nil }) { return .timestamp }
        return .varchar
    }

    /// A first record is a header when a column typed from the other records (or the existing
    /// table's names) says so: its value there does not parse as the column's type.
    static func looksLikeHeader(_ first: [String?]?, types: [ColumnType], existing: TableSchema?) -> Bool {
        guard let first else { return false }
        if let existing {
            return first.allSatisfy { name in name.map { existing.column(named: $0) != nil } ?? false }
        }
        for (index, value) in first.enumerated() where index < types.count {
            guard let value, !value.isEmpty else { continue }
            if types[index] != .varchar, inferType([value]) != types[index],
               !(types[index] == .double && [.int, .long].contains(inferType([value]))),
               !(types[index] == .long && inferType([value]) == .int)
            {
                return true
            }
        }
        return false
    }

    // MARK: Rows

    private func write(_ record: [String?]) async throws(SQLError) {
        guard let target, let batch else { return }
        var values: [(SQLValue, SQLType, Int)] = []
        var columns: [Int] = []
        var rejected = false
        for (field, text) in record.enumerated() {
            guard field < target.columnForField.count, let column = target.columnForField[field] else { continue }
            let type = target.schema.columns[column].type
            var value = SQLValue.null
            if let text, !(text.isEmpty && ![.varchar, .string, .symbol].contains(type)) {
                if let pattern = target.patterns[field], type == .timestamp || type == .date {
                    if let micros = pattern.parse(text) {
                        value = .integer(type == .date ? micros / 1000 : micros)
                    } else {
                        rejected = try reject(column: column, text: text, type: type) || rejected
                    }
                } else {
                    do {
                        value = try ValueConversion.convert(.text(text), from: .string, to: .column(type), at: 0)
                    } catch {
                        rejected = try reject(column: column, text: text, type: type) || rejected
                    }
                }
            }
            if column == target.timestampColumn, value == .null {
                rejected = true
            }
            values.append((value, .column(type), 0))
            columns.append(column)
        }
        if rejected {
            report.rowsRejected += 1
            return
        }
        do {
            try RowWriter.write(values, into: batch, schema: target.schema, columns: columns)
        } catch {
            if options.atomicity == .abort { throw error }
            report.rowsRejected += 1
            return
        }
        report.rowsImported += 1
        // One transaction for everything that fits a batch: an import up to ~16 MiB of row data
        // is all or nothing (a dropped connection commits nothing); larger ones commit per batch,
        // which bounds memory whatever the file size.
        if batch.byteCount >= Self.commitBytes { try await flush() }
    }

    /// Counts a bad value; true when the row must be skipped; throws in `abort` mode.
    private func reject(column: Int, text: String, type: ColumnType) throws(SQLError) -> Bool {
        if column < report.columns.count { report.columns[column].errors += 1 }
        switch options.atomicity {
        case .skipColumn: return false
        case .skipRow: return true
        case .abort:
            throw SQLError(.invalidValue, "inconvertible value: `\(text)` [STRING -> \(type)] at line \(reader?.line ?? 0)")
        }
    }

    private func flush() async throws(SQLError) {
        guard let batch, batch.rowCount > 0 else { return }
        do { lastTxn = try await engine.storage.commit(batch) } catch { throw DataDefinition.storageError(error) }
        batch.reset()
    }
}

/// QuestDB-style date patterns for `/imp` schemas, `to_timestamp` and `to_str`
/// (`yyyy-MM-dd HH:mm:ss.SSS`): y, M, d, H, m, s, S (millis), U (micros), and literal text
/// (quoted with '…' or plain punctuation); for formatting also E (day name), MMM/MMMM (month
/// name), h (1–12 hour) and a (AM/PM).
struct DatePattern: Sendable, Equatable {
    enum Token: Sendable, Equatable {
        case field(Character, Int)
        case literal(Character)
    }

    let tokens: [Token]

    init(_ pattern: String, formatting: Bool = false) {
        let fields = formatting ? "yMdHmsSUEha" : "yMdHmsSU"
        var tokens: [Token] = []
        var characters = Array(pattern)[...]
        while let character = characters.first {
            if character == "'" {
                characters = characters.dropFirst()
                while let literal = characters.first, literal != "'" {
                    tokens.append(.literal(literal))
                    characters = characters.dropFirst()
                }
                characters = characters.dropFirst()
            } else if fields.contains(character) {
                let run = characters.prefix { $0 == character }.count
                tokens.append(.field(character, run))
                characters = characters.dropFirst(run)
            } else {
                tokens.append(.literal(character))
                characters = characters.dropFirst()
            }
        }
        self.tokens = tokens
    }

    private static let monthNames = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                                     "October", "November", "December"]
    private static let dayNames = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

    /// `instant` (µs since the epoch, UTC) written by the pattern.
    func format(_ instant: Int64) -> String {
        let (days, within) = TimeArithmetic.split(instant)
        let date = PartitionTime.civil(fromDays: days)
        let hour = Int(within / 3_600_000_000), minute = Int(within / 60_000_000 % 60), second = Int(within / 1_000_000 % 60)
        func padded(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        var out = ""
        for token in tokens {
            switch token {
            case .literal(let character): out.append(character)
            case .field(let field, let width):
                switch field {
                case "y": out += width == 2 ? padded(date.year % 100, 2) : padded(date.year, width)
                case "M":
                    if width >= 4 { out += Self.monthNames[date.month - 1] }
                    else if width == 3 { out += Self.monthNames[date.month - 1].prefix(3) }
                    else { out += padded(date.month, width) }
                case "d": out += padded(date.day, width)
                case "H": out += padded(hour, width)
                case "h": out += padded(hour % 12 == 0 ? 12 : hour % 12, width)
                case "a": out += hour < 12 ? "AM" : "PM"
                case "m": out += padded(minute, width)
                case "s": out += padded(second, width)
                case "S": out += padded(Int(within / 1000 % 1000), width)
                case "U": out += padded(Int(within % 1000), width)
                default:
                    let name = Self.dayNames[Int((days + 3) %% 7)]
                    out += width >= 4 ? name : String(name.prefix(3))
                }
            }
        }
        return out
    }

    /// µs since the epoch (UTC), or nil when `text` does not match.
    func parse(_ text: String) -> Int64? {
        var characters = Array(text)[...]
        var year = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0
        var micros: Int64 = 0
        for token in tokens {
            switch token {
            case .literal(let literal):
                guard characters.first == literal else { return nil }
                characters = characters.dropFirst()
            case .field(let field, let width):
                let digits = characters.prefix { $0.isASCII && $0.isNumber }
                let taken = width > 1 && field != "S" && field != "U" ? min(digits.count, field == "y" ? max(width, 4) : width) : digits.count
                guard taken > 0, let value = Int(String(digits.prefix(taken))) else { return nil }
                characters = characters.dropFirst(taken)
                switch field {
                case "y": year = value
                case "M": month = value
                case "d": day = value
                case "H": hour = value
                case "m": minute = value
                case "s": second = value
                case "S": micros += Int64(value) * 1000
                default: micros += Int64(value)
                }
            }
        }
        guard characters.isEmpty, (1...12).contains(month), day >= 1, day <= TimestampText.daysIn(month: month, year: year),
              hour < 24, minute < 60, second < 60
        else { return nil }
        let days = PartitionTime.days(fromYear: year, month: month, day: day)
        return days * 86_400_000_000 + Int64(hour) * 3_600_000_000 + Int64(minute) * 60_000_000 + Int64(second) * 1_000_000 + micros
    }
}

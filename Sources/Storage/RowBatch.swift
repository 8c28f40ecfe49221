import Synchronization

/// Rows for one table, column by column, as protocols build them and the WAL stores them.
///
/// Reused across batches: `reset` keeps every buffer's capacity, so a warm batch appends rows
/// without allocating. Values are set by column position in the batch's schema; columns left
/// unset in a row get their NULL. Types must already match the column (protocols cast first):
/// a mismatch is a programming error and traps.
package final class RowBatch {
    package private(set) var schema: TableSchema
    package private(set) var rowCount = 0
    /// One storage per schema column, in schema order: a manual table rather than an array of
    /// classes, so setting a value costs neither a retain/release nor a uniqueness check.
    private var columns: UnsafeMutablePointer<ColumnStorage>
    private var columnCount: Int
    private var inRow = false
    /// Counts rows begun; a column whose `setInRow` equals it was set in the current row.
    private var rowStamp = 0
    /// Columns set in the current row: when all are, `endRow` has no NULLs to fill.
    private var setInRowCount = 0
    /// Total bytes held, checked against `maxBytes` at each row's end.
    package private(set) var byteCount = 0
    /// Bytes the current row has appended so far.
    private var rowBytes = 0
    package let maxBytes: Int
    /// Largest single var-size value; a larger one fails its row.
    package let maxValueBytes: Int
    /// A value set in the current row that cannot be stored: (column, why). The row fails at `endRow`.
    private var invalidValue: (column: Int, reason: String)?
    /// Designated timestamps of the batch's rows: the applier takes the in-order fast path
    /// when the batch is ordered and starts at or after the table's max timestamp.
    package private(set) var minTimestamp = Int64.max
    package private(set) var maxTimestamp = Int64.min
    package private(set) var isOrderedByTimestamp = true
    private var designatedIndex: Int?
    /// Changes whenever SYMBOL entry keys may stop meaning what they meant (`reset`, which a
    /// decode also does; `clearRows` or `dropUnusedSymbolEntries` when they drop or renumber
    /// entries): a writer remembering keys (`setSymbolKeys`) forgets them then. Unique in the
    /// process, so no two batches' keys are ever taken for each other.
    package private(set) var dictionaryEpoch = RowBatch.newEpoch()
    private static let epochs = Atomic<Int>(0)
    private static func newEpoch() -> Int { epochs.wrappingAdd(1, ordering: .relaxed).newValue }

    package init(schema: TableSchema, maxBytes: Int = 64 << 20, maxValueBytes: Int = 16 << 20) {
        self.schema = schema
        self.maxBytes = maxBytes
        self.maxValueBytes = maxValueBytes
        self.columnCount = schema.columns.count
        self.columns = .allocate(capacity: max(1, schema.columns.count))
        for (index, column) in schema.columns.enumerated() { (columns + index).initialize(to: ColumnStorage(type: column.type)) }
        self.designatedIndex = schema.designatedTimestamp.flatMap { id in schema.columns.firstIndex { $0.id == id } }
    }

    deinit {
        columns.deinitialize(count: columnCount)
        columns.deallocate()
    }

    /// Empties the batch for `schema` (same or newer), keeping buffers where the column is unchanged.
    package func reset(schema newSchema: TableSchema? = nil) {
        if let newSchema, newSchema != schema {
            // Columns the new schema keeps (same id and type) move over with their capacity.
            let old = columns, oldCount = columnCount
            var moved = Array(repeating: false, count: oldCount)
            columns = .allocate(capacity: max(1, newSchema.columns.count))
            for (index, column) in newSchema.columns.enumerated() {
                if let from = schema.columns.firstIndex(where: { $0.id == column.id && $0.type == column.type }) {
                    (columns + index).initialize(to: (old + from).move())
                    moved[from] = true
                    columns[index].removeAll()
                } else {
                    (columns + index).initialize(to: ColumnStorage(type: column.type))
                }
            }
            for index in 0..<oldCount where !moved[index] { (old + index).deinitialize(count: 1) }
            old.deallocate()
            columnCount = newSchema.columns.count
            schema = newSchema
            designatedIndex = newSchema.designatedTimestamp.flatMap { id in newSchema.columns.firstIndex { $0.id == id } }
        } else {
            for index in 0..<columnCount { columns[index].removeAll() }
        }
        dictionaryEpoch = Self.newEpoch()
        inRow = false
        forgetRows()
    }

    /// The row count, byte count and timestamp range of a batch whose rows were just emptied.
    private func forgetRows() {
        rowCount = 0
        byteCount = totalBytes
        invalidValue = nil
        minTimestamp = .max
        maxTimestamp = .min
        isOrderedByTimestamp = true
    }

    /// Empties the batch for its next rows, keeping each SYMBOL column's dictionary that the
    /// rows cleared used nearly all of (decision 0043): a stream repeating its series adds
    /// none of its values again, and keys a writer remembers (`setSymbolKeys`) stay valid
    /// while `dictionaryEpoch` does. Entries the next rows leave unused are dropped when they
    /// are committed (`dropUnusedSymbolEntries`).
    package func clearRows() {
        precondition(!inRow, "clearRows inside a row")
        // The rows cleared all have smaller stamps than the next ones.
        rowStamp &+= 1
        var kept = true
        for index in 0..<columnCount where !columns[index].clearRows(stamp: rowStamp) { kept = false }
        if !kept { dictionaryEpoch = Self.newEpoch() }
        // The byte count starts at the kept dictionaries' bytes.
        forgetRows()
    }

    /// Drops the SYMBOL dictionary entries no row uses — values `clearRows` kept that these
    /// rows did not repeat — renumbering the rows' keys. The storage engine does it before a
    /// batch goes to the WAL, which holds each batch's own values and no more entries than rows.
    package func dropUnusedSymbolEntries() {
        precondition(!inRow, "dropUnusedSymbolEntries inside a row")
        var renumbered = false
        for index in 0..<columnCount where columns[index].dropUnusedEntries() { renumbered = true }
        guard renumbered else { return }
        dictionaryEpoch = Self.newEpoch()
        byteCount = totalBytes
    }

    /// Takes a newer schema of the same table that only added columns at the end (ILP adds
    /// columns while a batch is being built; another writer may add some before a commit):
    /// rows so far keep their values and get NULL in the new columns. False, leaving the batch
    /// as it was, for any other change.
    package func extend(to newSchema: TableSchema) -> Bool {
        precondition(!inRow, "extend inside a row")
        guard newSchema.tableID == schema.tableID, newSchema.columns.count >= schema.columns.count,
              Array(newSchema.columns.prefix(schema.columns.count)) == schema.columns,
              newSchema.designatedTimestamp == schema.designatedTimestamp
        else { return false }
        let old = columns
        columns = .allocate(capacity: max(1, newSchema.columns.count))
        columns.moveInitialize(from: old, count: columnCount)
        old.deallocate()
        for (index, column) in newSchema.columns.enumerated().dropFirst(columnCount) {
            (columns + index).initialize(to: ColumnStorage(type: column.type))
            for _ in 0..<rowCount { _ = columns[index].appendNull() }
        }
        columnCount = newSchema.columns.count
        schema = newSchema
        byteCount = totalBytes
        return true
    }

    // MARK: Building rows

    /// Whether a row was begun and not yet ended or cancelled.
    package var isBuildingRow: Bool { inRow }

    package func beginRow() {
        precondition(!inRow, "beginRow inside a row")
        inRow = true
        rowStamp &+= 1
        setInRowCount = 0
        rowBytes = 0
    }

    /// Abandons the row being built: the batch is as it was before `beginRow`.
    package func cancelRow() {
        precondition(inRow, "cancelRow outside a row")
        inRow = false
        invalidValue = nil
        for index in 0..<columnCount where columns[index].setInRow == rowStamp { columns[index].removeLast() }
    }

    /// Finishes the row, filling unset columns with NULL; throws when the batch would exceed
    /// `maxBytes` (the row is then dropped and the batch stays as it was).
    package func endRow() throws(StorageError) {
        precondition(inRow, "endRow outside a row")
        inRow = false
        if setInRowCount < columnCount {
            for index in 0..<columnCount where columns[index].setInRow != rowStamp { rowBytes += columns[index].appendNull() }
        }
        if let invalid = invalidValue {
            invalidValue = nil
            for index in 0..<columnCount { columns[index].removeLast() }
            throw StorageError(
                .limitExceeded, path: schema.name, "a value of column \(schema.columns[invalid.column].name) \(invalid.reason)")
        }
        if byteCount + rowBytes > maxBytes {
            for index in 0..<columnCount { columns[index].removeLast() }
            throw tooLarge
        }
        byteCount += rowBytes
        if let designatedIndex {
            let timestamp = columns[designatedIndex].view.lastFixedValue(as: Int64.self)
            if timestamp < maxTimestamp { isOrderedByTimestamp = false }
            minTimestamp = min(minTimestamp, timestamp)
            maxTimestamp = max(maxTimestamp, timestamp)
        }
        rowCount += 1
    }

    private var tooLarge: StorageError {
        StorageError(
            .limitExceeded, path: schema.name, "a row batch for table \(schema.name) exceeds \(maxBytes) bytes; commit smaller batches")
    }

    /// Appends every row of `other`, a batch of the same schema, after this batch's rows: an
    /// ILP body parsed in two halves at once joins them in order. Throws, changing nothing,
    /// when the result would exceed `maxBytes`.
    package func append(contentsOf other: RowBatch) throws(StorageError) {
        precondition(!inRow && !other.inRow, "append inside a row")
        precondition(other.schema == schema, "appending a batch of another schema")
        guard other.rowCount > 0 else { return }
        if byteCount + other.byteCount > maxBytes { throw tooLarge }
        for index in 0..<columnCount { columns[index].append(contentsOf: other.columns[index], stamp: rowStamp) }
        // Values both batches hold are kept once in a symbol dictionary.
        let joinedBytes = totalBytes
        if !other.isOrderedByTimestamp || other.minTimestamp < maxTimestamp { isOrderedByTimestamp = false }
        minTimestamp = min(minTimestamp, other.minTimestamp)
        maxTimestamp = max(maxTimestamp, other.maxTimestamp)
        rowCount += other.rowCount
        byteCount = joinedBytes
    }

    /// Sets a fixed-width integer-backed column (BOOLEAN as 0/1, BYTE, SHORT, CHAR, INT, LONG,
    /// DATE, TIMESTAMP, TIMESTAMP_NS, IPv4, GEOHASH).
    package func setInteger<T: FixedWidthInteger>(_ column: Int, _ value: T) {
        setInteger(column, value, as: T.self)
    }

    // Concrete entry points for the hot path: a generic call from another module may run
    // unspecialized (witness-table calls per value); these specialize inside Storage.
    package func setInteger(_ column: Int, _ value: Int64) { setInteger(column, value, as: Int64.self) }
    package func setInteger(_ column: Int, _ value: Int32) { setInteger(column, value, as: Int32.self) }
    package func setInteger(_ column: Int, _ value: Int16) { setInteger(column, value, as: Int16.self) }
    package func setInteger(_ column: Int, _ value: Int8) { setInteger(column, value, as: Int8.self) }
    package func setInteger(_ column: Int, _ value: UInt8) { setInteger(column, value, as: UInt8.self) }
    package func setInteger(_ column: Int, _ value: UInt16) { setInteger(column, value, as: UInt16.self) }
    package func setInteger(_ column: Int, _ value: UInt32) { setInteger(column, value, as: UInt32.self) }
    package func setInteger(_ column: Int, _ value: UInt64) { setInteger(column, value, as: UInt64.self) }

    @inline(__always)
    private func setInteger<T: FixedWidthInteger>(_ column: Int, _ value: T, as: T.Type) {
        markSet(column)
        precondition(columns[column].width == MemoryLayout<T>.size, "width mismatch for column \(column)")
        rowBytes += columns[column].appendFixed(value)
    }

    // The row writer's commonest values, each with its duplicate check in the same call (ILP
    // keeps the first of a field given twice): false, setting nothing, when the column already
    // has a value in this row. One cross-module call per value instead of two.
    package func setIntegerIfUnset(_ column: Int, _ value: Int64) -> Bool {
        guard !isSetInRow(column) else { return false }
        setInteger(column, value, as: Int64.self)
        return true
    }

    package func setDoubleIfUnset(_ column: Int, _ value: Double) -> Bool {
        guard !isSetInRow(column) else { return false }
        setDouble(column, value)
        return true
    }

    /// The entry key the value got (−1: stored as NULL, the value being too large), or `nil`
    /// when the column already has a value in this row.
    package func setSymbolIfUnset(_ column: Int, _ bytes: UnsafeRawBufferPointer) -> Int32? {
        guard !isSetInRow(column) else { return nil }
        setSymbol(column, bytes)
        return columns[column].view.lastFixedValue(as: Int32.self)
    }

    package func setDouble(_ column: Int, _ value: Double) {
        markSet(column)
        precondition(columns[column].type == .double, "column \(column) is not DOUBLE")
        rowBytes += columns[column].appendFixed(value.bitPattern)
    }

    package func setFloat(_ column: Int, _ value: Float) {
        markSet(column)
        precondition(columns[column].type == .float, "column \(column) is not FLOAT")
        rowBytes += columns[column].appendFixed(value.bitPattern)
    }

    /// Sets a UUID, LONG256 or other multi-word fixed value from its little-endian bytes.
    package func setFixedBytes(_ column: Int, _ bytes: UnsafeRawBufferPointer) {
        markSet(column)
        precondition(columns[column].width == bytes.count, "width mismatch for column \(column)")
        rowBytes += columns[column].appendFixedBytes(bytes)
    }

    /// Sets a SYMBOL (its string; the batch keeps each distinct value once and the applier
    /// interns those), VARCHAR, STRING (UTF-8), BINARY or DOUBLE[] (encoded) value.
    package func setBytes(_ column: Int, _ bytes: UnsafeRawBufferPointer) {
        if columns[column].isSymbol {
            setSymbol(column, bytes)
            return
        }
        markSet(column)
        precondition(columns[column].isLengthPrefixed, "column \(column) is fixed-width")
        var problem: String?
        if bytes.count > maxValueBytes {
            problem = "exceeds \(maxValueBytes) bytes"
        } else if case .doubleArray(let dimensions) = columns[column].type {
            problem = DoubleArrayValue.validate(bytes, dimensions: dimensions).map { "is not a valid array: \($0)" }
        }
        if let problem {
            // Stand in a NULL so the row stays aligned; endRow drops the row and says why.
            invalidValue = (column, problem)
            rowBytes += columns[column].appendNull()
            return
        }
        rowBytes += columns[column].appendVariable(bytes)
    }

    /// Sets a SYMBOL column's value (its UTF-8 bytes).
    package func setSymbol(_ column: Int, _ bytes: UnsafeRawBufferPointer) {
        markSet(column)
        precondition(columns[column].isSymbol, "column \(column) is not SYMBOL")
        guard bytes.count <= maxValueBytes else {
            invalidValue = (column, "exceeds \(maxValueBytes) bytes")
            rowBytes += columns[column].appendNull()
            return
        }
        rowBytes += columns[column].appendSymbol(bytes)
    }

    /// Sets several SYMBOL columns of the row by entry keys this batch gave earlier (read back
    /// with `symbolKey(row:)` of `column(_:)`) since the last change of `dictionaryEpoch`:
    /// `pairs` is column position, key, column position, key… One call for a row's tags.
    package func setSymbolKeys(_ pairs: UnsafeBufferPointer<Int32>) {
        var index = 0
        while index + 1 < pairs.count {
            let column = Int(pairs[index]), key = pairs[index + 1]
            markSet(column)
            precondition(columns[column].isSymbol, "column \(column) is not SYMBOL")
            columns[column].appendSymbolKey(key)
            rowBytes += 4
            index += 2
        }
    }

    /// Sets a column to NULL explicitly.
    package func setNull(_ column: Int) {
        markSet(column)
        rowBytes += columns[column].appendNull()
    }

    /// Whether `column` has a value in the row being built.
    @inline(__always)
    package func isSetInRow(_ column: Int) -> Bool {
        precondition(column >= 0 && column < columnCount, "no column \(column)")
        return columns[column].setInRow == rowStamp
    }

    @inline(__always)
    private func markSet(_ column: Int) {
        precondition(inRow, "value set outside a row")
        precondition(column >= 0 && column < columnCount, "no column \(column)")
        precondition(columns[column].setInRow != rowStamp, "column \(column) set twice in one row")
        columns[column].setInRow = rowStamp
        setInRowCount += 1
    }

    // MARK: Reading (applier, WAL codec, tests)

    /// A view of the column at `index`, valid until the batch is next changed.
    package func column(_ index: Int) -> ColumnBuffer {
        precondition(index >= 0 && index < columnCount, "no column \(index)")
        return columns[index].view
    }

    private var totalBytes: Int { (0..<columnCount).reduce(0) { $0 + columns[$1].byteCount } }

    /// Bytes the batch's buffers hold on to (capacity, not content): what keeping an emptied
    /// batch for reuse costs.
    package var retainedBytes: Int {
        (0..<columnCount).reduce(0) { $0 + columns[$1].capacity }
    }

    /// Loads a SYMBOL column given as a length per row (−1 NULL) and the values' bytes (WAL
    /// batch format 1), or appends those rows.
    func loadSymbolRows(_ index: Int, lengths: ArraySlice<UInt8>, data: ArraySlice<UInt8>, appending: Bool) {
        precondition(index >= 0 && index < columnCount && columns[index].isSymbol, "no SYMBOL column \(index)")
        if !appending { columns[index].removeAll() }
        lengths.withUnsafeBytes { lengths in
            data.withUnsafeBytes { data in columns[index].appendSymbolRows(lengths: lengths, data: data, stamp: rowStamp) }
        }
    }

    /// Loads a column's contents in place, reusing its buffers' capacity, or appends them after
    /// the rows it holds (the WAL decoder). A SYMBOL column's `fixed` is its rows' entry keys
    /// and `lengths` and `data` its dictionary.
    func loadColumn(_ index: Int, fixed: ArraySlice<UInt8>, lengths: ArraySlice<UInt8>, data: ArraySlice<UInt8>, appending: Bool) {
        precondition(index >= 0 && index < columnCount, "no column \(index)")
        columns[index].load(fixed: fixed, lengths: lengths, data: data, appending: appending, stamp: rowStamp)
    }

    /// Loads (or appends) a SYMBOL column from narrowed entry keys and the payload's dictionary
    /// (`ColumnStorage.loadNarrowSymbols`); false when a key falls outside the dictionary.
    func loadNarrowSymbolColumn(
        _ index: Int, codes: ArraySlice<UInt8>, rows: Int, plan: NarrowPlan, lengths: ArraySlice<UInt8>, data: ArraySlice<UInt8>,
        appending: Bool
    ) -> Bool {
        precondition(index >= 0 && index < columnCount && columns[index].isSymbol, "no SYMBOL column \(index)")
        return codes.withUnsafeBytes { codes in
            lengths.withUnsafeBytes { lengths in
                data.withUnsafeBytes { data in
                    columns[index].loadNarrowSymbols(
                        codes: codes, rows: rows, plan: plan, lengths: lengths, data: data, appending: appending, stamp: rowStamp)
                }
            }
        }
    }

    /// Loads (or appends) a fixed-width column from its narrowed codes (WAL batch format 3),
    /// widening straight into the column.
    func loadNarrowColumn(_ index: Int, codes: ArraySlice<UInt8>, rows: Int, plan: NarrowPlan, appending: Bool) {
        precondition(index >= 0 && index < columnCount && !columns[index].isSymbol, "no narrowable column \(index)")
        if !appending { columns[index].removeAll() }
        codes.withUnsafeBytes { columns[index].appendWidened($0, rows: rows, plan: plan) }
    }

    /// Ends a decode that filled `rows`, the batch's last rows: the row count and the
    /// timestamp order and range take them in.
    func finishDecoded(rows: Range<Int>) {
        self.rowCount = rows.upperBound
        byteCount = totalBytes
        guard let designatedIndex else { return }
        for row in rows {
            let timestamp = columns[designatedIndex].view.fixedValue(row: row, as: Int64.self)
            if timestamp < maxTimestamp { isOrderedByTimestamp = false }
            minTimestamp = min(minTimestamp, timestamp)
            maxTimestamp = max(maxTimestamp, timestamp)
        }
    }
}

/// A read-only view of one column of a `RowBatch`, valid until the batch is next changed.
/// Fixed-width types keep values back to back in `fixed` (the `.d` layout); variable-size types
/// keep a length per row (−1 for NULL) in `lengths` and the bytes in `data`; SYMBOL keeps an
/// Int32 entry key per row (−1 for NULL) in `fixed` and its batch dictionary — each distinct
/// value once, in order of first use — as `lengths` and `data`.
package struct ColumnBuffer: Equatable {
    package let type: ColumnType
    /// Whether rows are stored as length + bytes (var-size types).
    package let isLengthPrefixed: Bool
    /// Whether this is a SYMBOL column: entry keys per row over a batch dictionary.
    package let isSymbol: Bool
    /// Fixed-width values, `rows × width` bytes (a SYMBOL column's Int32 entry keys).
    package let fixed: UnsafeRawBufferPointer
    /// Lengths of length-prefixed rows (−1: NULL), or of a SYMBOL column's dictionary entries.
    package let lengths: UnsafeBufferPointer<Int32>
    /// Bytes of length-prefixed rows, or of a SYMBOL column's dictionary entries, back to back.
    package let data: UnsafeRawBufferPointer

    /// Equal contents.
    package static func == (lhs: ColumnBuffer, rhs: ColumnBuffer) -> Bool {
        lhs.type == rhs.type && lhs.fixed.elementsEqual(rhs.fixed) && lhs.lengths.elementsEqual(rhs.lengths)
            && lhs.data.elementsEqual(rhs.data)
    }

    /// The fixed-width value of the last row.
    package func lastFixedValue<T: FixedWidthInteger>(as: T.Type) -> T {
        fixed.loadLittleEndian(fromByteOffset: fixed.count - MemoryLayout<T>.size, as: T.self)
    }

    /// The fixed-width value of `row`.
    package func fixedValue<T: FixedWidthInteger>(row: Int, as: T.Type) -> T {
        fixed.loadLittleEndian(fromByteOffset: row * MemoryLayout<T>.size, as: T.self)
    }

    /// A SYMBOL column's entry key of `row` (−1 for NULL).
    package func symbolKey(row: Int) -> Int32 {
        fixed.loadLittleEndian(fromByteOffset: row * 4, as: Int32.self)
    }

    /// The bytes of a length-prefixed or SYMBOL `row`, or `nil` for NULL. Linear in `row` (or
    /// the entry): for tests and tools; the applier walks rows in order.
    package func variableValue(row: Int) -> [UInt8]? {
        if isSymbol {
            let key = Int(symbolKey(row: row))
            guard key >= 0 else { return nil }
            let start = lengths[..<key].reduce(0) { $0 + Int($1) }
            return Array(data[start..<start + Int(lengths[key])])
        }
        var start = 0
        for index in 0..<row where lengths[index] > 0 { start += Int(lengths[index]) }
        let length = lengths[row]
        return length < 0 ? nil : Array(data[start..<start + Int(length)])
    }
}

/// The bytes of one column of a `RowBatch`, in growable regions the batch owns. ILP appends ~20
/// values a row: as a struct of arrays in an array, each append paid uniqueness checks on the
/// column list and the array, a generic `append(contentsOf:)` and a `memmove` call for 8 bytes
/// (decision 0017); here it is a capacity check and a store.
struct ColumnStorage: ~Copyable {
    let type: ColumnType
    /// Bytes per value of a fixed-width type (0 for length-prefixed ones).
    let width: Int
    let isLengthPrefixed: Bool
    /// A SYMBOL column: `fixed` holds an Int32 entry key per row (−1 NULL) and `lengths` and
    /// `data` the batch's dictionary of distinct values (decision 0031).
    let isSymbol: Bool
    /// The NULL value of a fixed-width type, computed once (rows without the column append it).
    private let null: [UInt8]
    /// `RowBatch.rowStamp` of the row that last set this column.
    var setInRow = 0
    /// `setInRow` of the row that added the dictionary's last entry: undoing that row drops it.
    private var lastEntryAddedInRow = -1
    private var fixed = GrowableBytes()
    private var lengths = GrowableBytes()
    private var data = GrowableBytes()
    private var symbolIndex = BatchSymbolIndex()
    /// SYMBOL: an Int per dictionary entry, the stamp of the first of the current rows that
    /// used it — below `usedSince` when none has. A dictionary kept across `clearRows`
    /// (decision 0043) holds values of earlier rows; these say which the current rows use.
    private var entryFirstUse = GrowableBytes()
    /// Entries the current rows use.
    private var usedEntries = 0
    /// Stamps from here on are the current rows'.
    private var usedSince = Int.min + 1
    /// Whether the last `dropUnusedEntries` found most of the dictionary in use: a stream
    /// whose values change from batch to batch gains nothing from keeping them.
    private var dictionaryEarnedItsKeep = true

    init(type: ColumnType) {
        self.type = type
        self.null = type.nullBytes
        self.isSymbol = type == .symbol
        self.isLengthPrefixed = type.isVariableSize
        self.width = isLengthPrefixed ? 0 : type.fixedWidthBytes ?? 0
    }

    var view: ColumnBuffer {
        ColumnBuffer(type: type, isLengthPrefixed: isLengthPrefixed, isSymbol: isSymbol, fixed: fixed.bytes,
                     lengths: lengths.bytes.bindMemory(to: Int32.self), data: data.bytes)
    }

    var byteCount: Int { fixed.count + lengths.count + data.count }
    var capacity: Int { fixed.capacity + lengths.capacity + data.capacity + symbolIndex.capacity + entryFirstUse.capacity }

    /// Entries in a SYMBOL column's dictionary.
    var entryCount: Int { lengths.count / 4 }

    mutating func removeAll() {
        fixed.removeAll()
        lengths.removeAll()
        data.removeAll()
        symbolIndex.removeAll()
        entryFirstUse.removeAll()
        usedEntries = 0
        lastEntryAddedInRow = -1
        dictionaryEarnedItsKeep = true
    }

    /// Most entries a dictionary keeps across `clearRows`.
    static let maxKeptEntries = 1 << 15

    /// Empties the rows for the next ones; a SYMBOL column keeps its dictionary when the rows
    /// cleared used nearly all of it and it earned its keep at the last commit
    /// (`dropUnusedEntries`). `stamp`: no row so far has a larger one, every later row will.
    /// False when the dictionary went (its keys mean nothing any more).
    mutating func clearRows(stamp: Int) -> Bool {
        let entries = entryCount
        guard isSymbol, entries > 0 else {
            removeAll()
            return true
        }
        let keep = dictionaryEarnedItsKeep && (entries - usedEntries) * 4 <= entries && entries <= Self.maxKeptEntries
        guard keep else {
            removeAll()
            return false
        }
        fixed.removeAll()
        usedSince = stamp
        usedEntries = 0
        lastEntryAddedInRow = -1
        return true
    }

    @inline(__always)
    private func firstUse(_ key: Int) -> Int { entryFirstUse.bytes.load(fromByteOffset: key * 8, as: Int.self) }

    /// Counts entry `key` as used by the current rows from `stamp` on, unless it already is.
    @inline(__always)
    private mutating func noteUse(_ key: Int, stamp: Int) {
        guard firstUse(key) < usedSince else { return }
        entryFirstUse.store(stamp, atByteOffset: key * 8)
        usedEntries += 1
    }

    /// Drops the entries no current row uses (kept from earlier rows), renumbering the rows'
    /// keys: the WAL carries a batch's own values only, never more entries than rows. Returns
    /// whether any key changed.
    mutating func dropUnusedEntries() -> Bool {
        let entries = entryCount
        let unused = entries - usedEntries
        dictionaryEarnedItsKeep = unused * 4 <= entries
        guard isSymbol, unused > 0 else { return false }
        var mapping = [Int32](repeating: -1, count: entries)
        var keptLengths = GrowableBytes(), keptData = GrowableBytes(), keptFirstUse = GrowableBytes()
        var start = 0
        for entry in 0..<entries {
            let length = Int(lengths.bytes.load(fromByteOffset: entry * 4, as: Int32.self))
            let first = firstUse(entry)
            if first >= usedSince {
                mapping[entry] = Int32(keptLengths.count / 4)
                keptLengths.append(Int32(length))
                keptData.append(UnsafeRawBufferPointer(rebasing: data.bytes[start..<start + length]))
                keptFirstUse.append(first)
            }
            start += length
        }
        for row in 0..<fixed.count / 4 {
            let key = fixed.bytes.load(fromByteOffset: row * 4, as: Int32.self)
            if key >= 0 { fixed.store(mapping[Int(key)], atByteOffset: row * 4) }
        }
        lengths = keptLengths
        data = keptData
        entryFirstUse = keptFirstUse
        // Indexed again on the next lookup.
        symbolIndex.removeAll()
        lastEntryAddedInRow = -1
        return true
    }

    /// Counts every entry as used from `stamp` on: a dictionary loaded with its rows (a
    /// decoded payload's), each of whose entries some row uses.
    private mutating func noteLoadedEntries(stamp: Int) {
        for _ in entryFirstUse.count / 8..<entryCount {
            entryFirstUse.append(stamp)
            usedEntries += 1
        }
    }

    /// Appends a SYMBOL value as its dictionary entry's key; returns the bytes it took (the
    /// key, and the entry when the value is new to the batch).
    @inline(__always)
    mutating func appendSymbol(_ bytes: UnsafeRawBufferPointer) -> Int {
        precondition(bytes.count <= Int(Int32.max), "value too large")
        let (key, added) = usedKey(of: bytes, stamp: setInRow)
        fixed.append(key)
        guard added else { return 4 }
        lastEntryAddedInRow = setInRow
        return 8 + bytes.count
    }

    /// Appends a row's entry key the dictionary already holds.
    @inline(__always)
    mutating func appendSymbolKey(_ key: Int32) {
        precondition(key >= 0 && Int(key) < lengths.count / 4, "symbol key \(key) is not in the batch's dictionary")
        fixed.append(key)
        noteUse(Int(key), stamp: setInRow)
    }

    /// The key of `bytes`, added at the end when new (`added`); counted as used from `stamp` on.
    @inline(__always)
    private mutating func usedKey(of bytes: UnsafeRawBufferPointer, stamp: Int) -> (key: Int32, added: Bool) {
        let (key, added) = symbolIndex.key(of: bytes, lengths: &lengths, data: &data)
        if added {
            entryFirstUse.append(stamp)
            usedEntries += 1
        } else {
            noteUse(Int(key), stamp: stamp)
        }
        return (key, added)
    }

    /// Loads (or appends) a SYMBOL column from narrowed entry keys over a decoded payload's
    /// dictionary (WAL batch format 3): the keys are widened straight into the column and
    /// checked there, and — appending — mapped into the column's dictionary where they lie. No
    /// array of widened keys is made and copied per column. False when a key falls outside the
    /// dictionary (damage: the decode fails, and its batch is reset before any other use).
    mutating func loadNarrowSymbols(
        codes: UnsafeRawBufferPointer, rows: Int, plan: NarrowPlan, lengths entryLengths: UnsafeRawBufferPointer,
        data entryData: UnsafeRawBufferPointer, appending: Bool, stamp: Int
    ) -> Bool {
        precondition(isSymbol, "entry keys for a column that is not a SYMBOL")
        if !appending { removeAll() }
        let start = fixed.count
        plan.widen(codes, count: rows, width: 4, into: fixed.appendUninitialized(rows * 4))
        let entries = entryLengths.count / 4
        guard ColumnStorage.keysFit(UnsafeRawBufferPointer(rebasing: fixed.bytes[start...]), entries: entries) else { return false }
        guard appending else {
            lengths.append(entryLengths)
            data.append(entryData)
            noteLoadedEntries(stamp: stamp)
            return true
        }
        // Every entry is some row's value: each is looked up once, then the rows are mapped.
        let mapping = entryKeys(lengths: entryLengths, data: entryData, usedBy: nil, stamp: stamp)
        for row in 0..<rows {
            let at = start + row * 4
            let key = fixed.bytes.loadUnaligned(fromByteOffset: at, as: Int32.self)
            if key >= 0 { fixed.store(mapping[Int(key)], atByteOffset: at) }
        }
        return true
    }

    /// Whether every entry key (little-endian Int32) is NULL (−1) or one of `entries`: one pass
    /// for the lowest and highest, no branch per key.
    static func keysFit(_ keys: UnsafeRawBufferPointer, entries: Int) -> Bool {
        var low = Int32.max
        var high = Int32.min
        for row in 0..<keys.count / 4 {
            let key = Int32(littleEndian: keys.loadUnaligned(fromByteOffset: row * 4, as: Int32.self))
            low = min(low, key)
            high = max(high, key)
        }
        return keys.count < 4 || (low >= -1 && Int(high) < entries)
    }

    /// Appends SYMBOL rows given as entry keys over their own dictionary (another batch's, or
    /// a decoded payload's): each entry is looked up once, the rows are mapped.
    /// Only entries some row uses are looked up: another batch's kept dictionary can hold
    /// values none of its rows has. A decoded payload's rows use every entry (`allUsed`).
    mutating func appendSymbols(
        keys: UnsafeRawBufferPointer, lengths entryLengths: UnsafeRawBufferPointer, data entryData: UnsafeRawBufferPointer, stamp: Int,
        allUsed: Bool = false
    ) {
        let mapping = entryKeys(lengths: entryLengths, data: entryData, usedBy: allUsed ? nil : keys, stamp: stamp)
        for row in 0..<keys.count / 4 {
            let key = keys.loadUnaligned(fromByteOffset: row * 4, as: Int32.self)
            fixed.append(key < 0 ? Int32(-1) : mapping[Int(key)])
        }
    }

    /// This column's key for each entry of another dictionary, looking up only the entries one
    /// of `keys` names (every entry when `nil`); an entry no key names maps to −2.
    private mutating func entryKeys(
        lengths entryLengths: UnsafeRawBufferPointer, data entryData: UnsafeRawBufferPointer, usedBy keys: UnsafeRawBufferPointer?,
        stamp: Int
    ) -> [Int32] {
        // −2: no row uses the entry; −1: one does, not looked up yet.
        var mapping = [Int32](repeating: keys == nil ? -1 : -2, count: entryLengths.count / 4)
        if let keys {
            for row in 0..<keys.count / 4 {
                let key = keys.loadUnaligned(fromByteOffset: row * 4, as: Int32.self)
                if key >= 0 { mapping[Int(key)] = -1 }
            }
        }
        var start = 0
        for entry in mapping.indices {
            let length = Int(entryLengths.loadUnaligned(fromByteOffset: entry * 4, as: Int32.self))
            if mapping[entry] == -1 {
                mapping[entry] = usedKey(of: UnsafeRawBufferPointer(rebasing: entryData[start..<start + length]), stamp: stamp).key
            }
            start += length
        }
        return mapping
    }

    /// Appends SYMBOL rows given as a length per row (−1 NULL) and their bytes (WAL batch
    /// format 1, before batch dictionaries).
    mutating func appendSymbolRows(lengths rowLengths: UnsafeRawBufferPointer, data rowData: UnsafeRawBufferPointer, stamp: Int) {
        var start = 0
        for row in 0..<rowLengths.count / 4 {
            let length = Int(rowLengths.loadUnaligned(fromByteOffset: row * 4, as: Int32.self))
            guard length >= 0 else {
                fixed.append(Int32(-1))
                continue
            }
            fixed.append(usedKey(of: UnsafeRawBufferPointer(rebasing: rowData[start..<start + length]), stamp: stamp).key)
            start += length
        }
    }

    /// Appends a value; returns the bytes it took.
    @inline(__always)
    mutating func appendFixed<T: FixedWidthInteger>(_ value: T) -> Int {
        fixed.append(value)
        return MemoryLayout<T>.size
    }

    mutating func appendFixedBytes(_ bytes: UnsafeRawBufferPointer) -> Int {
        fixed.append(bytes)
        return bytes.count
    }

    @inline(__always)
    mutating func appendVariable(_ bytes: UnsafeRawBufferPointer) -> Int {
        precondition(bytes.count <= Int(Int32.max), "value too large")
        lengths.append(Int32(bytes.count))
        data.append(bytes)
        return 4 + bytes.count
    }

    mutating func appendNull() -> Int {
        if isLengthPrefixed {
            lengths.append(Int32(-1))
            return 4
        }
        null.withUnsafeBytes { fixed.append($0) }
        return width
    }

    /// Appends all of `other`'s rows (a column of the same type).
    mutating func append(contentsOf other: borrowing ColumnStorage, stamp: Int) {
        if isSymbol {
            appendSymbols(keys: other.fixed.bytes, lengths: other.lengths.bytes, data: other.data.bytes, stamp: stamp)
            return
        }
        fixed.append(other.fixed.bytes)
        lengths.append(other.lengths.bytes)
        data.append(other.data.bytes)
    }

    /// Drops the last row (the batch counts a row's bytes only at `endRow`).
    mutating func removeLast() {
        if isLengthPrefixed {
            let length = Int(lengths.bytes.loadLittleEndian(fromByteOffset: lengths.count - 4, as: Int32.self))
            lengths.removeLast(4)
            if length > 0 { data.removeLast(length) }
        } else {
            if isSymbol {
                let key = fixed.bytes.loadLittleEndian(fromByteOffset: fixed.count - 4, as: Int32.self)
                if key >= 0 && firstUse(Int(key)) == setInRow {
                    // The row undone was the first to use the entry: unused again, or gone
                    // when the row added it.
                    usedEntries -= 1
                    if Int(key) == entryCount - 1 && lastEntryAddedInRow == setInRow {
                        symbolIndex.removeLast(lengths: &lengths, data: &data)
                        entryFirstUse.removeLast(8)
                        lastEntryAddedInRow = -1
                    } else {
                        entryFirstUse.store(Int.min, atByteOffset: Int(key) * 8)
                    }
                }
            }
            fixed.removeLast(width)
        }
    }

    /// Appends `rows` values widened from their narrowed codes (WAL batch format 3).
    mutating func appendWidened(_ codes: UnsafeRawBufferPointer, rows: Int, plan: NarrowPlan) {
        precondition(width > 0 && !isLengthPrefixed, "widening into a column of no fixed width")
        guard rows > 0 else { return }
        plan.widen(codes, count: rows, width: width, into: fixed.appendUninitialized(rows * width))
    }

    /// Replaces the contents (or appends to them), keeping capacity: decoding batch after batch
    /// allocates nothing once the buffers have grown to the largest batch. A SYMBOL column takes
    /// keys and its dictionary; appended ones are merged into the dictionary it has.
    mutating func load(
        fixed newFixed: ArraySlice<UInt8>, lengths newLengths: ArraySlice<UInt8>, data newData: ArraySlice<UInt8>,
        appending: Bool = false, stamp: Int
    ) {
        if !appending { removeAll() }
        if isSymbol && appending {
            newFixed.withUnsafeBytes { keys in
                newLengths.withUnsafeBytes { lengths in
                    newData.withUnsafeBytes { data in appendSymbols(keys: keys, lengths: lengths, data: data, stamp: stamp, allUsed: true) }
                }
            }
            return
        }
        newFixed.withUnsafeBytes { fixed.append($0) }
        newLengths.withUnsafeBytes { lengths.append($0) }
        newData.withUnsafeBytes { data.append($0) }
        if isSymbol { noteLoadedEntries(stamp: stamp) }
    }
}

/// A growable run of bytes owned by one `ColumnStorage` (noncopyable: never aliased). Appends
/// store straight into the allocation; growth doubles.
struct GrowableBytes: ~Copyable {
    private var base: UnsafeMutableRawPointer?
    private(set) var count = 0
    private(set) var capacity = 0

    init() {}

    deinit { base?.deallocate() }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    @inline(__always)
    mutating func append<T: FixedWidthInteger>(_ value: T) {
        let size = MemoryLayout<T>.size
        if count + size > capacity { grow(to: count + size) }
        base.unsafelyUnwrapped.storeBytes(of: value.littleEndian, toByteOffset: count, as: T.self)
        count += size
    }

    @inline(__always)
    mutating func append(_ source: UnsafeRawBufferPointer) {
        let size = source.count
        guard size > 0 else { return }
        if count + size > capacity { grow(to: count + size) }
        let target = base.unsafelyUnwrapped + count
        if size <= 16 {
            // Symbols and short strings: a byte loop beats a memmove call.
            for index in 0..<size { target.storeBytes(of: source[index], toByteOffset: index, as: UInt8.self) }
        } else {
            target.copyMemory(from: source.baseAddress.unsafelyUnwrapped, byteCount: size)
        }
        count += size
    }

    /// Grows by `size` bytes and returns where they start, for the caller to fill at once.
    mutating func appendUninitialized(_ size: Int) -> UnsafeMutableRawPointer {
        if count + size > capacity { grow(to: count + size) }
        let target = base.unsafelyUnwrapped + count
        count += size
        return target
    }

    mutating func removeLast(_ size: Int) {
        precondition(size <= count, "removing more bytes than held")
        count -= size
    }

    /// Overwrites a value already held.
    @inline(__always)
    mutating func store<T: FixedWidthInteger>(_ value: T, atByteOffset offset: Int) {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= count, "store past the bytes held")
        base.unsafelyUnwrapped.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
    }

    mutating func removeAll() { count = 0 }

    @inline(never)
    private mutating func grow(to needed: Int) {
        let newCapacity = max(needed, capacity * 2, 256)
        let grown = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        if let base {
            grown.copyMemory(from: base, byteCount: count)
            base.deallocate()
        }
        base = grown
        capacity = newCapacity
    }
}

/// Rows for one table, column by column, as protocols build them and the WAL stores them.
///
/// Reused across batches: `reset` keeps every buffer's capacity, so a warm batch appends rows
/// without allocating. Values are set by column position in the batch's schema; columns left
/// unset in a row get their NULL. Types must already match the column (protocols cast first):
/// a mismatch is a programming error and traps.
package final class RowBatch {
    package private(set) var schema: TableSchema
    package private(set) var rowCount = 0
    private var columns: [ColumnBuffer]
    private var setInRow: [Bool]
    private var inRow = false
    /// Total bytes held, checked against `maxBytes` at each row's end.
    package private(set) var byteCount = 0
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

    package init(schema: TableSchema, maxBytes: Int = 64 << 20, maxValueBytes: Int = 16 << 20) {
        self.schema = schema
        self.maxBytes = maxBytes
        self.maxValueBytes = maxValueBytes
        self.columns = schema.columns.map { ColumnBuffer(type: $0.type) }
        self.setInRow = Array(repeating: false, count: schema.columns.count)
        self.designatedIndex = schema.designatedTimestamp.flatMap { id in schema.columns.firstIndex { $0.id == id } }
    }

    /// Empties the batch for `schema` (same or newer), keeping buffers where the column is unchanged.
    package func reset(schema newSchema: TableSchema? = nil) {
        if let newSchema, newSchema != schema {
            let old = Dictionary(uniqueKeysWithValues: zip(schema.columns.map(\.id), columns))
            columns = newSchema.columns.map { column in
                if var buffer = old[column.id], buffer.type == column.type {
                    buffer.removeAll()
                    return buffer
                }
                return ColumnBuffer(type: column.type)
            }
            schema = newSchema
            setInRow = Array(repeating: false, count: newSchema.columns.count)
            designatedIndex = newSchema.designatedTimestamp.flatMap { id in newSchema.columns.firstIndex { $0.id == id } }
        } else {
            for index in columns.indices { columns[index].removeAll() }
        }
        rowCount = 0
        byteCount = 0
        inRow = false
        invalidValue = nil
        minTimestamp = .max
        maxTimestamp = .min
        isOrderedByTimestamp = true
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
        for column in newSchema.columns.dropFirst(schema.columns.count) {
            var buffer = ColumnBuffer(type: column.type)
            for _ in 0..<rowCount { buffer.appendNull() }
            columns.append(buffer)
        }
        setInRow = Array(repeating: false, count: newSchema.columns.count)
        schema = newSchema
        byteCount = columns.reduce(0) { $0 + $1.byteCount }
        return true
    }

    // MARK: Building rows

    package func beginRow() {
        precondition(!inRow, "beginRow inside a row")
        inRow = true
        for index in setInRow.indices { setInRow[index] = false }
    }

    /// Abandons the row being built: the batch is as it was before `beginRow`.
    package func cancelRow() {
        precondition(inRow, "cancelRow outside a row")
        inRow = false
        invalidValue = nil
        for index in columns.indices where setInRow[index] { columns[index].removeLast() }
    }

    /// Finishes the row, filling unset columns with NULL; throws when the batch would exceed
    /// `maxBytes` (the row is then dropped and the batch stays as it was).
    package func endRow() throws(StorageError) {
        precondition(inRow, "endRow outside a row")
        inRow = false
        for index in columns.indices where !setInRow[index] { columns[index].appendNull() }
        if let invalid = invalidValue {
            invalidValue = nil
            for index in columns.indices { columns[index].removeLast() }
            throw StorageError(
                .limitExceeded, path: schema.name, "a value of column \(schema.columns[invalid.column].name) \(invalid.reason)")
        }
        let newByteCount = columns.reduce(0) { $0 + $1.byteCount }
        if newByteCount > maxBytes {
            for index in columns.indices { columns[index].removeLast() }
            throw StorageError(
                .limitExceeded, path: schema.name,
                "a row batch for table \(schema.name) exceeds \(maxBytes) bytes; commit smaller batches")
        }
        byteCount = newByteCount
        if let designatedIndex {
            let timestamp = columns[designatedIndex].fixedValue(row: rowCount, as: Int64.self)
            if timestamp < maxTimestamp { isOrderedByTimestamp = false }
            minTimestamp = min(minTimestamp, timestamp)
            maxTimestamp = max(maxTimestamp, timestamp)
        }
        rowCount += 1
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
        columns[column].appendFixed(value)
    }

    package func setDouble(_ column: Int, _ value: Double) {
        markSet(column)
        precondition(columns[column].type == .double, "column \(column) is not DOUBLE")
        columns[column].appendFixed(value.bitPattern)
    }

    package func setFloat(_ column: Int, _ value: Float) {
        markSet(column)
        precondition(columns[column].type == .float, "column \(column) is not FLOAT")
        columns[column].appendFixed(value.bitPattern)
    }

    /// Sets a UUID, LONG256 or other multi-word fixed value from its little-endian bytes.
    package func setFixedBytes(_ column: Int, _ bytes: UnsafeRawBufferPointer) {
        markSet(column)
        precondition(columns[column].width == bytes.count, "width mismatch for column \(column)")
        columns[column].appendFixedBytes(bytes)
    }

    /// Sets a SYMBOL (its string; the applier interns it), VARCHAR, STRING (UTF-8), BINARY or
    /// DOUBLE[] (encoded) value.
    package func setBytes(_ column: Int, _ bytes: UnsafeRawBufferPointer) {
        markSet(column)
        precondition(columns[column].type.isVariableSize || columns[column].type == .symbol, "column \(column) is fixed-width")
        var problem: String?
        if bytes.count > maxValueBytes {
            problem = "exceeds \(maxValueBytes) bytes"
        } else if case .doubleArray(let dimensions) = columns[column].type {
            problem = DoubleArrayValue.validate(bytes, dimensions: dimensions).map { "is not a valid array: \($0)" }
        }
        if let problem {
            // Stand in a NULL so the row stays aligned; endRow drops the row and says why.
            invalidValue = (column, problem)
            columns[column].appendNull()
            return
        }
        columns[column].appendVariable(bytes)
    }

    /// Sets a column to NULL explicitly.
    package func setNull(_ column: Int) {
        markSet(column)
        columns[column].appendNull()
    }

    private func markSet(_ column: Int) {
        precondition(inRow, "value set outside a row")
        precondition(!setInRow[column], "column \(column) set twice in one row")
        setInRow[column] = true
    }

    // MARK: Reading (applier, WAL codec, tests)

    package func column(_ index: Int) -> ColumnBuffer { columns[index] }

    /// Bytes the batch's buffers hold on to (capacity, not content): what keeping an emptied
    /// batch for reuse costs.
    package var retainedBytes: Int {
        columns.reduce(0) { $0 + $1.fixed.capacity + $1.lengths.capacity * 4 + $1.data.capacity }
    }

    /// Loads a column's contents in place, reusing its buffers' capacity, or appends them after
    /// the rows it holds (the WAL decoder).
    func loadColumn(_ index: Int, fixed: ArraySlice<UInt8>, lengths: ArraySlice<UInt8>, data: ArraySlice<UInt8>, appending: Bool) {
        columns[index].load(fixed: fixed, lengths: lengths, data: data, appending: appending)
    }

    /// Ends a decode that filled `rows`, the batch's last rows: the row count and the
    /// timestamp order and range take them in.
    func finishDecoded(rows: Range<Int>) {
        self.rowCount = rows.upperBound
        byteCount = columns.reduce(0) { $0 + $1.byteCount }
        guard let designatedIndex else { return }
        for row in rows {
            let timestamp = columns[designatedIndex].fixedValue(row: row, as: Int64.self)
            if timestamp < maxTimestamp { isOrderedByTimestamp = false }
            minTimestamp = min(minTimestamp, timestamp)
            maxTimestamp = max(maxTimestamp, timestamp)
        }
    }
}

/// One column of a `RowBatch`. Fixed-width types keep values back to back in `fixed`
/// (the `.d` layout); variable-size types and symbols keep a length per row (−1 for NULL)
/// and the bytes in `data`.
package struct ColumnBuffer: Sendable, Equatable {
    package let type: ColumnType
    package private(set) var fixed: [UInt8] = []
    package private(set) var lengths: [Int32] = []
    package private(set) var data: [UInt8] = []
    /// The NULL value of a fixed-width type, computed once (rows without the column append it).
    private let null: [UInt8]
    /// Bytes per value of a fixed-width type (0 for length-prefixed ones), computed once: every
    /// set checks it.
    let width: Int
    package let isLengthPrefixed: Bool

    init(type: ColumnType) {
        self.type = type
        self.null = type.nullBytes
        self.isLengthPrefixed = type.isVariableSize || type == .symbol
        self.width = isLengthPrefixed ? 0 : type.fixedWidthBytes ?? 0
    }

    /// Whether rows are stored as length + bytes (var-size types and symbols before interning).

    var byteCount: Int { fixed.count + lengths.count * 4 + data.count }

    mutating func removeAll() {
        fixed.removeAll(keepingCapacity: true)
        lengths.removeAll(keepingCapacity: true)
        data.removeAll(keepingCapacity: true)
    }

    @inline(__always)
    mutating func appendFixed<T: FixedWidthInteger>(_ value: T) {
        fixed.appendLittleEndian(value)
    }

    mutating func appendFixedBytes(_ bytes: UnsafeRawBufferPointer) {
        fixed.append(contentsOf: bytes)
    }

    mutating func appendVariable(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count <= Int(Int32.max), "value too large")
        lengths.append(Int32(bytes.count))
        data.append(contentsOf: bytes)
    }

    mutating func appendNull() {
        if isLengthPrefixed {
            lengths.append(-1)
        } else {
            fixed.append(contentsOf: null)
        }
    }

    mutating func removeLast() {
        if isLengthPrefixed {
            let length = lengths.removeLast()
            if length > 0 { data.removeLast(Int(length)) }
        } else {
            fixed.removeLast(width)
        }
    }

    /// The fixed-width value of the last row appended.
    package func lastFixedValue<T: FixedWidthInteger>(as: T.Type) -> T {
        fixed.withUnsafeBytes { $0.loadLittleEndian(fromByteOffset: fixed.count - MemoryLayout<T>.size, as: T.self) }
    }

    /// The fixed-width value of `row`.
    package func fixedValue<T: FixedWidthInteger>(row: Int, as: T.Type) -> T {
        fixed.withUnsafeBytes { $0.loadLittleEndian(fromByteOffset: row * MemoryLayout<T>.size, as: T.self) }
    }

    /// The bytes of a length-prefixed `row`, or `nil` for NULL. Linear in `row`: for tests and
    /// tools; the applier walks rows in order.
    package func variableValue(row: Int) -> ArraySlice<UInt8>? {
        var start = 0
        for index in 0..<row where lengths[index] > 0 { start += Int(lengths[index]) }
        let length = lengths[row]
        return length < 0 ? nil : data[start..<start + Int(length)]
    }

    /// Replaces the contents (or appends to them), keeping capacity: decoding batch after batch
    /// allocates nothing once the buffers have grown to the largest batch.
    mutating func load(
        fixed newFixed: ArraySlice<UInt8>, lengths newLengths: ArraySlice<UInt8>, data newData: ArraySlice<UInt8>,
        appending: Bool = false
    ) {
        if !appending {
            fixed.removeAll(keepingCapacity: true)
            lengths.removeAll(keepingCapacity: true)
            data.removeAll(keepingCapacity: true)
        }
        fixed.append(contentsOf: newFixed)
        let count = newLengths.count / 4
        if count > 0 {
            let start = lengths.count
            lengths.append(contentsOf: repeatElement(0, count: count))
            lengths.withUnsafeMutableBytes { UnsafeMutableRawBufferPointer(rebasing: $0[(start * 4)...]).copyBytes(from: newLengths) }
        }
        data.append(contentsOf: newData)
    }
}

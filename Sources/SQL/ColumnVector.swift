import Storage

/// Values of one column for a run of rows, in the representation of its `SQLType`. Operators
/// loop over these arrays; there is no per-row dispatch or boxing.
package enum ColumnVector: Sendable {
    case boolean([Bool])
    /// Integer-backed types; NULL is the type's sentinel (`Int64.min` for INT/LONG/TIMESTAMP).
    case integer([Int64])
    /// FLOAT and DOUBLE; NULL is NaN.
    case real([Double])
    case text([String?])
    /// SYMBOL keys (−1 = NULL) with the dictionary they index.
    case symbol([Int32], SymbolTable)
    /// DECIMALs past 18 digits, × 10^scale; NULL is `Int256.min`.
    case wide([Int256])

    package var count: Int {
        switch self {
        case .boolean(let values): values.count
        case .integer(let values): values.count
        case .real(let values): values.count
        case .text(let values): values.count
        case .symbol(let keys, _): keys.count
        case .wide(let values): values.count
        }
    }

    /// An empty vector of `representation`.
    static func empty(_ representation: SQLType.Representation) -> ColumnVector {
        switch representation {
        case .boolean: .boolean([])
        case .integer: .integer([])
        case .real: .real([])
        case .text: .text([])
        case .wide: .wide([])
        }
    }

    /// `count` copies of the NULL of `type`.
    static func nulls(_ type: SQLType, count: Int) -> ColumnVector {
        switch type.representation {
        case .boolean: .boolean(Array(repeating: false, count: count))
        case .integer: .integer(Array(repeating: type.integerNull, count: count))
        case .real: .real(Array(repeating: .nan, count: count))
        case .text: .text(Array(repeating: nil, count: count))
        case .wide: .wide(Array(repeating: .min, count: count))
        }
    }

    /// Symbols as text (for operations that mix dictionaries or need the strings).
    var asText: [String?] {
        switch self {
        case .text(let values): values
        case .symbol(let keys, let table): keys.map { table.value($0) }
        case .boolean(let values): values.map { $0 ? "true" : "false" }
        case .integer(let values): values.map { $0 == Int64.min ? nil : String($0) }
        case .real(let values): values.map { $0.isNaN ? nil : JavaDoubleText.format($0) }
        // Unscaled: `asText(type)` writes decimals with their scale.
        case .wide(let values): values.map { $0 == .min ? nil : $0.description }
        }
    }

    /// The rows at `indices`, in that order.
    func gather(_ indices: [Int]) -> ColumnVector {
        switch self {
        case .boolean(let values): .boolean(indices.map { values[$0] })
        case .integer(let values): .integer(indices.map { values[$0] })
        case .real(let values): .real(indices.map { values[$0] })
        case .text(let values): .text(indices.map { values[$0] })
        case .symbol(let keys, let table): .symbol(indices.map { keys[$0] }, table)
        case .wide(let values): .wide(indices.map { values[$0] })
        }
    }

    /// Rows `range`.
    func slice(_ range: Range<Int>) -> ColumnVector {
        switch self {
        case .boolean(let values): .boolean(Array(values[range]))
        case .integer(let values): .integer(Array(values[range]))
        case .real(let values): .real(Array(values[range]))
        case .text(let values): .text(Array(values[range]))
        case .symbol(let keys, let table): .symbol(Array(keys[range]), table)
        case .wide(let values): .wide(Array(values[range]))
        }
    }

    /// The rows where `mask` is true.
    func filter(_ mask: [Bool], selected: Int) -> ColumnVector {
        func pick<T>(_ values: [T]) -> [T] {
            var out: [T] = []
            out.reserveCapacity(selected)
            for index in values.indices where mask[index] { out.append(values[index]) }
            return out
        }
        switch self {
        case .boolean(let values): return .boolean(pick(values))
        case .integer(let values): return .integer(pick(values))
        case .real(let values): return .real(pick(values))
        case .text(let values): return .text(pick(values))
        case .symbol(let keys, let table): return .symbol(pick(keys), table)
        case .wide(let values): return .wide(pick(values))
        }
    }

    /// This vector followed by `other` (same representation; symbols of another dictionary
    /// become text).
    mutating func append(_ other: ColumnVector) {
        // Each case takes the array out of `self` and clears `self` before appending, so the
        // array is uniquely referenced and grows in place (amortised O(1) per row). A
        // `switch (self, other)` tuple would keep a second reference alive and copy the whole
        // result on every batch — quadratic in the result size.
        switch self {
        case .boolean(var values):
            if case .boolean(let more) = other {
                self = .integer([])
                values.append(contentsOf: more)
                self = .boolean(values)
                return
            }
        case .integer(var values):
            if case .integer(let more) = other {
                self = .boolean([])
                values.append(contentsOf: more)
                self = .integer(values)
                return
            }
        case .real(var values):
            if case .real(let more) = other {
                self = .boolean([])
                values.append(contentsOf: more)
                self = .real(values)
                return
            }
        case .text(var values):
            if case .text(let more) = other {
                self = .boolean([])
                values.append(contentsOf: more)
                self = .text(values)
                return
            }
            if case .symbol = other {
                self = .boolean([])
                values.append(contentsOf: other.asText)
                self = .text(values)
                return
            }
        case .wide(var values):
            if case .wide(let more) = other {
                self = .boolean([])
                values.append(contentsOf: more)
                self = .wide(values)
                return
            }
        case .symbol(var keys, let table):
            // Dictionaries only grow: the later one of the same column extends the earlier.
            if case .symbol(let more, let otherTable) = other, table.values.count <= otherTable.values.count,
               table.values.isEmpty || otherTable.values[table.values.count - 1] == table.values.last
            {
                self = .boolean([])
                keys.append(contentsOf: more)
                self = .symbol(keys, otherTable)
                return
            }
        }
        var values = asText
        self = .boolean([])
        values.append(contentsOf: other.asText)
        self = .text(values)
    }

    /// Approximate bytes held, for the query memory cap.
    var approximateBytes: Int {
        switch self {
        case .boolean(let values): values.count
        case .integer(let values): values.count * 8
        case .real(let values): values.count * 8
        case .symbol(let keys, _): keys.count * 4
        case .wide(let values): values.count * 32
        case .text(let values): values.count * 16 + values.reduce(0) { $0 + ($1?.utf8.count ?? 0) }
        }
    }
}

/// Rows of several columns: a batch in a pipeline or a whole materialised result.
package struct ColumnBatch: Sendable {
    package var columns: [ColumnVector]
    package var count: Int

    init(columns: [ColumnVector], count: Int) {
        self.columns = columns
        self.count = count
    }

    /// Columns a scan did not read are empty placeholders: they stay empty.
    func gather(_ indices: [Int]) -> ColumnBatch {
        ColumnBatch(columns: columns.map { $0.count == 0 && count > 0 ? $0 : $0.gather(indices) }, count: indices.count)
    }

    func slice(_ range: Range<Int>) -> ColumnBatch {
        ColumnBatch(columns: columns.map { $0.count == 0 && count > 0 ? $0 : $0.slice(range) }, count: range.count)
    }
}

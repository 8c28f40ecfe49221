import Storage

/// Produces the rows of a FROM source a batch at a time. Existential dispatch happens once
/// per batch, never per row.
protocol RowSource: AnyObject {
    /// Next batch, or nil at the end. Columns not in `needed` may be left empty.
    func next() throws(SQLError) -> ColumnBatch?
    /// Row number of the first row of the last batch returned.
    var firstRow: Int64 { get }
}

/// Rows already in memory (subqueries, CTEs, catalog views), served in slices.
final class MaterializedSource: RowSource {
    private let batch: ColumnBatch
    private var position = 0
    private let batchRows: Int
    private(set) var firstRow: Int64 = 0

    init(_ batch: ColumnBatch, batchRows: Int = 4096) {
        self.batch = batch
        self.batchRows = batchRows
    }

    func next() throws(SQLError) -> ColumnBatch? {
        guard position < batch.count else { return nil }
        let end = min(batch.count, position + batchRows)
        defer { position = end }
        firstRow = Int64(position)
        if position == 0 && end == batch.count { return batch }
        return batch.slice(position..<end)
    }
}

/// `long_sequence(n)`: one LONG column `x` = 1 … n.
final class LongSequenceSource: RowSource {
    private let total: Int64
    private var produced: Int64 = 0
    private let batchRows: Int64 = 4096
    private(set) var firstRow: Int64 = 0

    init(count: Int64) { total = max(0, count) }

    func next() throws(SQLError) -> ColumnBatch? {
        guard produced < total else { return nil }
        let end = min(total, produced + batchRows)
        firstRow = produced
        let values = Array((produced + 1)...end)
        produced = end
        return ColumnBatch(columns: [.integer(values)], count: values.count)
    }
}

/// A statement without FROM: one row, no columns.
final class SingleRowSource: RowSource {
    private var done = false
    let firstRow: Int64 = 0

    func next() throws(SQLError) -> ColumnBatch? {
        guard !done else { return nil }
        done = true
        return ColumnBatch(columns: [], count: 1)
    }
}

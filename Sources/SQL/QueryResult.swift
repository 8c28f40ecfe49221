import Storage

import Synchronization

/// The rows of a query, materialised column by column, with the result's designated
/// timestamp (QuestDB reports its index as `"timestamp"` in `/exec`).
package struct QueryResult: Sendable {
    package struct Column: Sendable, Equatable {
        package var name: String
        package var type: SQLType
    }

    package var columns: [Column]
    package var batch: ColumnBatch
    package var timestampIndex: Int?

    package var rowCount: Int { batch.count }

    package init(columns: [Column], batch: ColumnBatch, timestampIndex: Int?) {
        self.columns = columns
        self.batch = batch
        self.timestampIndex = timestampIndex
    }

    /// A small result from row values (catalog views, settings).
    package init(columns: [(String, SQLType)], rows: [[SQLValue]]) {
        let vectors = columns.indices.map { index in ColumnVector.from(rows.map { $0[index] }, type: columns[index].1) }
        self.init(
            columns: columns.map { Column(name: $0.0, type: $0.1) }, batch: ColumnBatch(columns: vectors, count: rows.count),
            timestampIndex: nil)
    }

    /// One text value in one column (`SHOW name`).
    package static func single(column: String, text: String) -> QueryResult {
        QueryResult(columns: [(column, .string)], rows: [[.text(text)]])
    }

    /// No rows, with `columns`' names and types (what a statement will return, for Describe).
    package static func empty(_ columns: [Column], timestampIndex: Int? = nil) -> QueryResult {
        QueryResult(
            columns: columns, batch: ColumnBatch(columns: columns.map { .empty($0.type.representation) }, count: 0),
            timestampIndex: timestampIndex)
    }

    package func value(row: Int, column: Int) -> SQLValue {
        batch.columns[column].value(at: row, type: columns[column].type)
    }

    /// The result's rows as text values (tests and tools), `nil` for NULL.
    package func textRows() -> [[String?]] {
        let texts = zip(batch.columns, columns).map { $0.asText($1.type) }
        return (0..<rowCount).map { row in texts.map { $0[row] } }
    }
}

/// What a statement did.
package enum SQLOutcome: Sendable {
    case rows(QueryResult)
    /// DDL and session statements (`{"ddl":"OK"}` over REST).
    case ddl
    case inserted(rows: Int)
    case updated(rows: Int)
}

/// Limits and controls of one running statement: a deadline, a cancel flag another thread
/// may set, and a cap on the memory a result or operator may hold.
package final class QueryContext: Sendable {
    package let deadline: ContinuousClock.Instant
    package let maxResultBytes: Int
    /// What `query_activity()` shows: the statement's text (as the client sent it) and user.
    package let text: String
    package let user: String
    private let cancelled = Atomic<Bool>(false)
    /// Its `query_activity()` id while registered (0: not registered).
    let activityID = Atomic<Int64>(0)

    package init(timeout: Duration, maxResultBytes: Int, text: String = "", user: String = "") {
        self.deadline = ContinuousClock.now + timeout
        self.maxResultBytes = maxResultBytes
        self.text = text
        self.user = user
    }

    package func cancel() { cancelled.store(true, ordering: .relaxed) }

    package var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    /// Throws when the statement was cancelled or ran past its deadline; called once per batch.
    func check() throws(SQLError) {
        if isCancelled { throw SQLError(.cancelled, "cancelled by user") }
        if ContinuousClock.now > deadline { throw SQLError(.timeout, "timeout, query aborted") }
    }

    /// Throws when `bytes` held by one operator or result exceed the cap.
    func checkMemory(_ bytes: Int) throws(SQLError) {
        guard bytes <= maxResultBytes else {
            throw SQLError(.limitExceeded, "query memory limit exceeded: \(bytes) bytes held, limit \(maxResultBytes) (narrow the query or add LIMIT)")
        }
    }
}

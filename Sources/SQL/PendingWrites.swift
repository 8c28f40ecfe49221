import Storage

/// The writes of an open PG transaction block, in statement order: rows INSERTed (buffered,
/// committed together) and UPDATEs deferred to COMMIT, as QuestDB keeps both on its pending
/// writers. ROLLBACK drops them all; nothing reaches the WAL before COMMIT (decision 0015).
package struct PendingWrites: Sendable {
    enum Step: Sendable {
        case rows(TableBatches)
        case update(Update, parameters: [SQLValue], parameterTypes: [SQLType?])
    }

    /// Steps closed by a later UPDATE; `rows` holds the INSERTs since the last one.
    var steps: [Step] = []
    var rows = TableBatches()

    package init() {}

    /// Every step, the open rows last.
    var ordered: [Step] { rows.isEmpty ? steps : steps + [.rows(rows)] }

    mutating func append(_ update: Update, parameters: [SQLValue], parameterTypes: [SQLType?]) {
        if !rows.isEmpty {
            steps.append(.rows(rows))
            rows = TableBatches()
        }
        steps.append(.update(update, parameters: parameters, parameterTypes: parameterTypes))
    }
}

extension PendingWrites {
    /// Whether a transaction block keeps `statement` for COMMIT: INSERT … VALUES and UPDATE
    /// (INSERT … SELECT and DDL run at once, as in QuestDB).
    package static func waitsForCommit(_ statement: SQLStatement) -> Bool {
        switch statement {
        case .insert(let insert): insert.valuesRowCount != nil
        case .update: true
        default: false
        }
    }
}

extension SQLEngine {
    /// A statement of a transaction block (PG wire's BEGIN … COMMIT) that `waitsForCommit`:
    /// checked now, so a bad value or name fails this statement as in PostgreSQL, and kept
    /// for `commit(_:)`; nothing is visible before. Returns the CommandComplete tag.
    /// - INSERT … VALUES: its rows are written into the block's batches (`INSERT 0 n`).
    /// - UPDATE: its matching rows are counted against the table as committed now (`UPDATE n`);
    ///   at COMMIT it runs again on the data of that moment.
    package func buffer(
        _ statement: SQLStatement, parameters: [SQLValue], parameterTypes: [SQLType?], into pending: PendingWrites, context: QueryContext
    ) async throws(SQLError) -> (PendingWrites, tag: String) {
        if readOnly { throw SQLError(.readOnly, "cannot execute \(statement.verb) in a read-only transaction") }
        let executor = makeExecutor(context, parameters: parameters, parameterTypes: parameterTypes)
        switch statement {
        case .insert(let insert) where insert.valuesRowCount != nil:
            return try await offload { () throws(SQLError) in
                var written = pending
                let rows = try DataDefinition(engine: self, executor: executor).write(insert, into: &written.rows)
                return (written, "INSERT 0 \(rows)")
            }
        case .update(let update):
            guard let snapshot = storage.snapshot(ofTable: update.table) else {
                throw SQLError(.undefinedTable, "table does not exist [table=\(update.table)]", at: update.position)
            }
            let plan = UpdatePlan(update: update, executor: executor)
            let rows = try await offload { () throws(SQLError) in try plan.compute(snapshot)?.rowCount ?? 0 }
            var kept = pending
            kept.append(update, parameters: parameters, parameterTypes: parameterTypes)
            return (kept, "UPDATE \(rows)")
        default:
            preconditionFailure("a transaction block keeps INSERT … VALUES and UPDATE only")
        }
    }

    /// COMMIT of a transaction block: its steps in order — buffered rows as one WAL
    /// transaction, each UPDATE as its own. A step that fails stops the rest; the error says
    /// how many steps were already committed (none when the first one fails).
    package func commit(_ pending: PendingWrites) async throws(SQLError) {
        let steps = pending.ordered
        if steps.isEmpty { return }
        if readOnly { throw SQLError(.readOnly, "cannot execute COMMIT in a read-only transaction") }
        for (index, step) in steps.enumerated() {
            do throws(SQLError) {
                switch step {
                case .rows(let batches):
                    try await commit(batches)
                case .update(let update, let parameters, let types):
                    _ = try await execute(.update(update), parameters: parameters, parameterTypes: types, context: makeContext())
                }
            } catch {
                guard index > 0 else { throw error }
                var partial = error
                partial.message = "COMMIT stopped after \(index) of \(steps.count) steps were committed: \(error.message)"
                throw partial
            }
        }
    }
}

import Storage
import Synchronization

/// The statements running now, for QuestDB's `query_activity()` and `CANCEL QUERY id`.
/// Every statement the engine executes is registered for its duration with its context
/// (which is what a cancel sets), text and user.
package final class QueryActivity: Sendable {
    package struct Entry: Sendable {
        package var id: Int64
        package var user: String
        package var text: String
        /// Wall-clock start, µs since the epoch.
        package var started: Int64
        package var context: QueryContext
    }

    private let state = PlainMutex<(next: Int64, running: [Int64: Entry])>((1, [:]))
    /// `running.count`, readable without the lock by ingestion deciding how many cores to use.
    private let count = Atomic<Int>(0)

    /// Whether any statement runs now.
    package var isBusy: Bool { count.load(ordering: .relaxed) > 0 }
    private let clock: @Sendable () -> Int64

    package init(clock: @escaping @Sendable () -> Int64) {
        self.clock = clock
    }

    /// Registers `context`'s statement; nil when it already is (an outer call registered it).
    func begin(_ context: QueryContext) -> Int64? {
        guard context.activityID.load(ordering: .relaxed) == 0 else { return nil }
        let started = clock()
        let id = state.withLock { state in
            let id = state.next
            state.next += 1
            state.running[id] = Entry(id: id, user: context.user, text: context.text, started: started, context: context)
            return id
        }
        context.activityID.store(id, ordering: .relaxed)
        count.add(1, ordering: .relaxed)
        return id
    }

    func end(_ id: Int64, _ context: QueryContext) {
        _ = state.withLock { $0.running.removeValue(forKey: id) }
        context.activityID.store(0, ordering: .relaxed)
        count.subtract(1, ordering: .relaxed)
    }

    /// The running statements, oldest first.
    package var running: [Entry] { state.withLock { $0.running.values.sorted { $0.id < $1.id } } }

    /// Cancels statement `id`; false when no such statement runs.
    package func cancel(_ id: Int64) -> Bool {
        guard let entry = state.withLock({ $0.running[id] }) else { return false }
        entry.context.cancel()
        return true
    }

    /// `query_activity()`: QuestDB's columns (`worker_*` name the SQL worker pool; no worker
    /// id is tracked, -1; `is_wal` is false: the WAL apply is not a registered statement).
    func table() -> QueryResult {
        let rows: [[SQLValue]] = running.map { entry in
            [
                .integer(entry.id), .integer(-1), .text("sql"), .text(entry.user), .integer(entry.started), .integer(entry.started),
                .text(entry.context.isCancelled ? "cancelled" : "active"), .boolean(false), .text(entry.text),
            ]
        }
        return CatalogViews.build([
            ("query_id", .long), ("worker_id", .long), ("worker_pool", .string), ("username", .string), ("query_start", .timestamp),
            ("state_change", .timestamp), ("state", .string), ("is_wal", .boolean), ("query", .string),
        ], rows)
    }
}

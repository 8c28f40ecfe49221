import Storage
import Synchronization

/// Parsed statements by their text, and what Describe found about them while no schema has
/// changed since (the catalog's generation): a driver that prepares the same SQL on every
/// connection, or sends the unnamed statement each time (asyncpg without its statement
/// cache, most ORMs), parses and plans it once. Parsing depends on the text alone, so a
/// parsed entry never goes stale. Bounded: entries and text length; the least recently used
/// half goes when it is full.
final class StatementCache: Sendable {
    struct Parsed: Sendable {
        var statements: [SQLStatement]
        var parameterCount: Int
        /// Each statement's plan memo: shared by every execution of the cached text.
        var memos: [PlanMemo]

        init(parsing sql: String) throws(SQLError) {
            (statements, parameterCount) = try SQLParser.parseCountingParameters(sql)
            memos = statements.map { _ in PlanMemo() }
        }
    }

    private struct Described {
        var generation: UInt64
        var declared: [SQLType?]
        var description: StatementDescription
    }

    private struct Entry {
        var parsed: Parsed
        var described: Described?
        var lastUse: UInt64
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var clock: UInt64 = 0
        var hits = 0
        var misses = 0
    }

    private let state = PlainMutex(State())
    let capacity: Int
    /// Longer statements are not kept (generated bulk SQL would only push the others out).
    static let maxTextBytes = 16 << 10

    init(capacity: Int) { self.capacity = capacity }

    func parsed(_ sql: String) -> Parsed? {
        state.withLock { state in
            state.clock += 1
            guard var entry = state.entries[sql] else {
                state.misses += 1
                return nil
            }
            state.hits += 1
            entry.lastUse = state.clock
            state.entries[sql] = entry
            return entry.parsed
        }
    }

    /// The description remembered for `sql` with these declared parameter types, if no schema
    /// changed since.
    func description(_ sql: String, declared: [SQLType?], generation: UInt64) -> StatementDescription? {
        state.withLock { state in
            guard let described = state.entries[sql]?.described, described.generation == generation, described.declared == declared
            else { return nil }
            return described.description
        }
    }

    func remember(_ sql: String, _ parsed: Parsed) {
        guard capacity > 0, sql.utf8.count <= Self.maxTextBytes else { return }
        state.withLock { state in
            state.clock += 1
            if state.entries[sql] == nil, state.entries.count >= capacity {
                // Drop the older half at once: one sort per `capacity / 2` new statements.
                let keep = state.entries.sorted { $0.value.lastUse > $1.value.lastUse }.prefix(capacity / 2)
                state.entries = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
            }
            state.entries[sql] = Entry(parsed: parsed, described: state.entries[sql]?.described, lastUse: state.clock)
        }
    }

    func remember(_ sql: String, declared: [SQLType?], generation: UInt64, description: StatementDescription) {
        state.withLock { state in
            state.entries[sql]?.described = Described(generation: generation, declared: declared, description: description)
        }
    }

    /// Lookups that found the statement parsed, and those that did not.
    var counts: (hits: Int, misses: Int) { state.withLock { ($0.hits, $0.misses) } }
}

import Storage
import Synchronization

/// The rows of each key of one SYMBOL column in one partition version, in row order: an
/// in-memory index built on first use (counting sort, two passes over the keys) and shared by
/// every query until the partition changes. `sym = 'x'` then reads a few rows instead of the
/// whole column (QuestDB keeps bitmap index files for the same purpose).
final class SymbolPostings: Sendable {
    /// Start of each key's rows in `rows`; slot 0 is NULL (key −1), slot k+1 is key k.
    private let offsets: [Int32]
    private let rows: [Int32]

    var bytes: Int { offsets.count * 4 + rows.count * 4 }

    init(keys: UnsafeRawBufferPointer, rowCount: Int, keyCount: Int) {
        var counts = [Int32](repeating: 0, count: keyCount + 2)
        for row in 0..<rowCount {
            let slot = Int(keys.loadUnaligned(fromByteOffset: row * 4, as: Int32.self)) + 1
            counts[min(max(slot, 0), keyCount + 1)] += 1
        }
        var offsets = [Int32](repeating: 0, count: keyCount + 3)
        for slot in 0..<(keyCount + 2) { offsets[slot + 1] = offsets[slot] + counts[slot] }
        var next = Array(offsets.prefix(keyCount + 2))
        var rows = [Int32](repeating: 0, count: rowCount)
        for row in 0..<rowCount {
            let slot = min(max(Int(keys.loadUnaligned(fromByteOffset: row * 4, as: Int32.self)) + 1, 0), keyCount + 1)
            rows[Int(next[slot])] = Int32(row)
            next[slot] += 1
        }
        self.offsets = offsets
        self.rows = rows
    }

    /// Rows of `key` within `range`, ascending.
    func rows(of key: Int32, in range: Range<Int>) -> ArraySlice<Int32> {
        let slot = Int(key) + 1
        guard slot >= 0, slot + 1 < offsets.count else { return [] }
        let all = rows[Int(offsets[slot])..<Int(offsets[slot + 1])]
        let low = Self.lowerBound(all, Int32(range.lowerBound))
        let high = Self.lowerBound(all, Int32(clamping: range.upperBound))
        return all[low..<high]
    }

    private static func lowerBound(_ rows: ArraySlice<Int32>, _ value: Int32) -> Int {
        var low = rows.startIndex, high = rows.endIndex
        while low < high {
            let middle = (low + high) / 2
            if rows[middle] < value { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// Postings by partition version and column, least recently used dropped past a byte budget.
package final class SymbolPostingsCache: Sendable {
    private struct Entry {
        var postings: SymbolPostings
        var lastUse: UInt64
    }

    /// A partition version's column: table directory (`name~id`), partition, part and
    /// rewrite version, and its row count — so appends and rewrites never see stale rows.
    private struct Key: Hashable {
        var table: String
        var partition: Int64
        var part: Int64
        var version: UInt32
        var column: UInt32
        var rowCount: Int
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var bytes = 0
        var clock: UInt64 = 0
    }

    private let state = PlainMutex(State())
    package let maxBytes: Int

    package init(maxBytes: Int) { self.maxBytes = maxBytes }

    /// The postings of `column` in `partition`, built now when missing.
    func postings(
        _ snapshot: TableSnapshot, _ partition: TableSnapshot.Partition, columnID: UInt32, keys: MappedColumn
    ) -> SymbolPostings {
        let key = Self.key(snapshot, partition, columnID)
        if let hit = cached(key) { return hit }
        return build(key, snapshot, partition, columnID: columnID, keys: keys)
    }

    /// The postings of a partition's column if they are in memory; nil rather than building them.
    func cachedPostings(_ snapshot: TableSnapshot, _ partition: TableSnapshot.Partition, columnID: UInt32) -> SymbolPostings? {
        cached(Self.key(snapshot, partition, columnID))
    }

    private static func key(_ snapshot: TableSnapshot, _ partition: TableSnapshot.Partition, _ columnID: UInt32) -> Key {
        Key(
            table: snapshot.directory, partition: partition.timestamp, part: partition.state.splitAt,
            version: partition.state.version, column: columnID, rowCount: partition.rowCount)
    }

    private func cached(_ key: Key) -> SymbolPostings? {
        state.withLock { state -> SymbolPostings? in
            state.clock += 1
            guard var entry = state.entries[key] else { return nil }
            entry.lastUse = state.clock
            state.entries[key] = entry
            return entry.postings
        }
    }

    private func build(
        _ key: Key, _ snapshot: TableSnapshot, _ partition: TableSnapshot.Partition, columnID: UInt32, keys: MappedColumn
    ) -> SymbolPostings {
        let keyCount = snapshot.symbols[columnID]?.values.count ?? 0
        let built = keys.withUnsafeBytes { SymbolPostings(keys: $0, rowCount: partition.rowCount, keyCount: keyCount) }
        state.withLock { state in
            guard built.bytes <= maxBytes else { return }
            state.clock += 1
            if let old = state.entries[key] { state.bytes -= old.postings.bytes }
            state.entries[key] = Entry(postings: built, lastUse: state.clock)
            state.bytes += built.bytes
            while state.bytes > maxBytes, let oldest = state.entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                state.bytes -= oldest.value.postings.bytes
                state.entries[oldest.key] = nil
            }
        }
        return built
    }
}

import Synchronization

/// A thread-safe map of at most `capacity` entries that drops the least recently used one
/// when full. Lookup, insert and eviction are O(1): the entries sit in a doubly linked list
/// by recency, kept in arrays (slot indices, no node objects). Finding the oldest entry by a
/// scan — as the column-mapping cache once did — cost a pass over 4 096 entries under a
/// process-wide lock on every miss of a full cache, and an ingesting table's last partition
/// misses after every commit (its length is part of the key).
package final class RecentlyUsedCache<Value: Sendable>: Sendable {
    private struct Slot {
        var key: String
        /// Nil once evicted, so the value (a mapping) is released at once, not when reused.
        var value: Value?
        var newer: Int
        var older: Int
    }

    private struct State {
        var slots: [Slot] = []
        var index: [String: Int] = [:]
        /// Most and least recently used slots; -1 when empty.
        var newest = -1
        var oldest = -1
        var free: [Int] = []

        mutating func unlink(_ slot: Int) {
            let (newer, older) = (slots[slot].newer, slots[slot].older)
            if newer >= 0 { slots[newer].older = older } else { newest = older }
            if older >= 0 { slots[older].newer = newer } else { oldest = newer }
        }

        mutating func pushNewest(_ slot: Int) {
            slots[slot].newer = -1
            slots[slot].older = newest
            if newest >= 0 { slots[newest].newer = slot }
            newest = slot
            if oldest < 0 { oldest = slot }
        }
    }

    private let state = PlainMutex(State())
    private let capacity: Int

    package init(capacity: Int) {
        precondition(capacity > 0, "a cache holds at least one entry")
        self.capacity = capacity
    }

    package var count: Int { state.withLock { $0.index.count } }

    /// The cached value of `key` (now the most recently used), or nil.
    package func lookup(_ key: String) -> Value? {
        state.withLock { state in
            guard let slot = state.index[key] else { return nil }
            if state.newest != slot {
                state.unlink(slot)
                state.pushNewest(slot)
            }
            return state.slots[slot].value
        }
    }

    /// The value of `key`: the cached one, else `make()`'s, cached (outside the lock: making
    /// may map a file). When two threads make the same key at once the first stored wins.
    package func value(_ key: String, _ make: () throws(StorageError) -> Value) throws(StorageError) -> Value {
        if let hit = lookup(key) { return hit }
        let made = try make()
        return state.withLock { state in
            if let raced = state.index[key], let value = state.slots[raced].value { return value }
            let slot: Int
            if let reused = state.free.popLast() {
                slot = reused
                state.slots[slot] = Slot(key: key, value: made, newer: -1, older: -1)
            } else {
                slot = state.slots.count
                state.slots.append(Slot(key: key, value: made, newer: -1, older: -1))
            }
            state.index[key] = slot
            state.pushNewest(slot)
            if state.index.count > capacity {
                let victim = state.oldest
                state.unlink(victim)
                state.index[state.slots[victim].key] = nil
                state.free.append(victim)
                state.slots[victim].value = nil
            }
            return made
        }
    }
}

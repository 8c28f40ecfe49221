/// The hash index over one SYMBOL column's batch dictionary (decision 0031): a row batch keeps
/// each distinct symbol value once (`ColumnStorage`'s `lengths` and `data` hold the entries)
/// and a 4-byte entry key per row, so the applier interns a batch's distinct values into the
/// table's dictionary instead of every row's, and the WAL carries each value once per batch.
///
/// Open addressing, at most half full. A slot holds the entry's key + 1 (0: empty) and the high
/// half of its hash, so a probe rejects other values without touching memory beyond the slot;
/// a match reads the entry's start and the next one's (one cache line) and then its bytes.
/// Misses dominate this lookup — the batch being built keeps evicting the table — so each
/// one saved counts. A loaded (decoded) dictionary is indexed lazily, on the first lookup.
struct BatchSymbolIndex: ~Copyable {
    private var slots: UnsafeMutablePointer<UInt64>?
    private var slotCount = 0
    /// UInt64 per indexed entry.
    private var hashes = GrowableBytes()
    /// Int64 per indexed entry: where its bytes start in the dictionary's data.
    private var starts = GrowableBytes()
    /// Entries indexed so far: the first `count` of the dictionary.
    private(set) var count = 0

    init() {}

    deinit { slots?.deallocate() }

    var capacity: Int { slotCount * 8 + hashes.capacity + starts.capacity }

    @inline(__always)
    private static func slotValue(key: Int, hash: UInt64) -> UInt64 {
        (hash & 0xFFFF_FFFF_0000_0000) | UInt64(key + 1)
    }

    /// Forgets every entry, keeping the table's capacity.
    mutating func removeAll() {
        if count > 0, let slots { slots.update(repeating: 0, count: slotCount) }
        count = 0
        hashes.removeAll()
        starts.removeAll()
    }

    /// The key of `bytes` in the dictionary held by `lengths` (Int32 per entry) and `data`,
    /// adding it at the end when new (`added`).
    @inline(__always)
    mutating func key(
        of bytes: UnsafeRawBufferPointer, lengths: inout GrowableBytes, data: inout GrowableBytes
    ) -> (key: Int32, added: Bool) {
        if count * 4 < lengths.count { index(lengths: lengths, data: data) }
        if (count + 1) * 2 > slotCount { grow() }
        let hash = ByteInterner.hash(bytes)
        let mask = slotCount - 1
        let slots = self.slots.unsafelyUnwrapped
        let tag = hash & 0xFFFF_FFFF_0000_0000
        let startBytes = starts.bytes
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let value = slots[slot]
            if value == 0 { break }
            if value & 0xFFFF_FFFF_0000_0000 == tag {
                let entry = Int(truncatingIfNeeded: value & 0xFFFF_FFFF) - 1
                let start = Int(startBytes.load(fromByteOffset: entry * 8, as: Int64.self))
                let end = entry + 1 < count ? Int(startBytes.load(fromByteOffset: entry * 8 + 8, as: Int64.self)) : data.count
                if end - start == bytes.count
                    && (bytes.count == 0
                        || ShortBytes.equal(data.bytes.baseAddress.unsafelyUnwrapped + start, bytes.baseAddress.unsafelyUnwrapped, bytes.count))
                {
                    return (Int32(entry), false)
                }
            }
            slot = (slot + 1) & mask
        }
        let key = Int32(count)
        slots[slot] = Self.slotValue(key: count, hash: hash)
        hashes.append(hash)
        starts.append(Int64(data.count))
        lengths.append(Int32(bytes.count))
        data.append(bytes)
        count += 1
        return (key, true)
    }

    /// Drops the last entry (added by a row being undone). Safe in open addressing: no entry
    /// was placed after the last one, so no probe sequence passes through its slot.
    mutating func removeLast(lengths: inout GrowableBytes, data: inout GrowableBytes) {
        precondition(count > 0 && count * 4 == lengths.count, "removing a symbol entry that is not the last indexed one")
        let entry = count - 1
        let hash = hashes.bytes.load(fromByteOffset: entry * 8, as: UInt64.self)
        let length = Int(lengths.bytes.load(fromByteOffset: entry * 4, as: Int32.self))
        let slots = self.slots.unsafelyUnwrapped
        var slot = Int(truncatingIfNeeded: hash) & (slotCount - 1)
        while slots[slot] & 0xFFFF_FFFF != UInt64(entry + 1) { slot = (slot + 1) & (slotCount - 1) }
        slots[slot] = 0
        hashes.removeLast(8)
        starts.removeLast(8)
        lengths.removeLast(4)
        data.removeLast(length)
        count -= 1
    }

    /// Indexes entries that arrived without the index (a decoded dictionary).
    mutating func index(lengths: borrowing GrowableBytes, data: borrowing GrowableBytes) {
        let total = lengths.count / 4
        guard count < total else { return }
        while (total + 1) * 2 > slotCount { grow() }
        var start = count == 0 ? 0 : Int(starts.bytes.load(fromByteOffset: (count - 1) * 8, as: Int64.self))
            + Int(lengths.bytes.load(fromByteOffset: (count - 1) * 4, as: Int32.self))
        let mask = slotCount - 1
        let slots = self.slots.unsafelyUnwrapped
        for entry in count..<total {
            let length = Int(lengths.bytes.load(fromByteOffset: entry * 4, as: Int32.self))
            let hash = ByteInterner.hash(UnsafeRawBufferPointer(rebasing: data.bytes[start..<start + length]))
            var slot = Int(truncatingIfNeeded: hash) & mask
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = Self.slotValue(key: entry, hash: hash)
            hashes.append(hash)
            starts.append(Int64(start))
            start += length
        }
        count = total
    }

    @inline(never)
    private mutating func grow() {
        let newCount = max(64, slotCount * 2)
        slots?.deallocate()
        let grown = UnsafeMutablePointer<UInt64>.allocate(capacity: newCount)
        grown.initialize(repeating: 0, count: newCount)
        let mask = newCount - 1
        for entry in 0..<count {
            let hash = hashes.bytes.load(fromByteOffset: entry * 8, as: UInt64.self)
            var slot = Int(truncatingIfNeeded: hash) & mask
            while grown[slot] != 0 { slot = (slot + 1) & mask }
            grown[slot] = Self.slotValue(key: entry, hash: hash)
        }
        slots = grown
        slotCount = newCount
    }
}

/// An open-addressing hash table from byte strings to dense Int32 keys, over one byte arena:
/// interning an already known symbol allocates nothing and builds no `String`.
struct ByteInterner {
    private var arena: [UInt8] = []
    /// Value `k` is `arena[ends[k - 1] ..< ends[k]]` (`ends[-1]` = 0).
    private var ends: [Int] = []
    private var hashes: [UInt64] = []
    /// Keys by slot, −1 for empty; the capacity is a power of two, at most half full.
    private var slots = [Int32](repeating: -1, count: 64)

    var count: Int { ends.count }

    /// The key of `bytes`, or `nil` when not interned.
    func key(of bytes: UnsafeRawBufferPointer) -> Int32? {
        let hash = ByteInterner.hash(bytes)
        var slot = Int(truncatingIfNeeded: hash) & (slots.count - 1)
        while slots[slot] >= 0 {
            let key = slots[slot]
            if hashes[Int(key)] == hash && equals(Int(key), bytes) { return key }
            slot = (slot + 1) & (slots.count - 1)
        }
        return nil
    }

    /// Adds `bytes` (not interned yet) and returns its key.
    mutating func insert(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        let key = Int32(ends.count)
        arena.append(contentsOf: bytes)
        ends.append(arena.count)
        let hash = ByteInterner.hash(bytes)
        hashes.append(hash)
        if ends.count * 2 > slots.count { grow() } else { place(key, hash: hash) }
        return key
    }

    @inline(__always)
    private func equals(_ key: Int, _ bytes: UnsafeRawBufferPointer) -> Bool {
        let start = key == 0 ? 0 : ends[key - 1]
        let end = ends[key]
        guard end - start == bytes.count else { return false }
        return arena.withUnsafeBytes { arena in
            bytes.count == 0 || ShortBytes.equal(arena.baseAddress! + start, bytes.baseAddress!, bytes.count)
        }
    }

    private mutating func place(_ key: Int32, hash: UInt64) {
        var slot = Int(truncatingIfNeeded: hash) & (slots.count - 1)
        while slots[slot] >= 0 { slot = (slot + 1) & (slots.count - 1) }
        slots[slot] = key
    }

    private mutating func grow() {
        slots = [Int32](repeating: -1, count: slots.count * 2)
        for key in 0..<ends.count { place(Int32(key), hash: hashes[key]) }
    }

    /// `ShortBytes.hash`. In memory only: the hash is never persisted, so it may change.
    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 { ShortBytes.hash(bytes) }
}

/// Hashing and equality for short byte strings (symbols, column and table names, ILP tag
/// sections), eight bytes at a time: cheaper than generic hashing or a `memcmp` call here.
package enum ShortBytes {
    /// Eight bytes at a time (multiply and fold per word), then a final mix so nearby strings
    /// spread over a table. In memory only: never persisted, so it may change.
    @inlinable @inline(__always)
    package static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let multiplier: UInt64 = 0x9E37_79B9_7F4A_7C15
        var hash = UInt64(bytes.count) &* multiplier
        let count = bytes.count
        var index = 0
        if let base = bytes.baseAddress {
            while index + 8 <= count {
                hash = (hash ^ base.loadUnaligned(fromByteOffset: index, as: UInt64.self)) &* multiplier
                hash ^= hash >> 32
                index += 8
            }
            // The last 0–7 bytes in at most two loads (overlapping when fewer than 8 remain;
            // the length is in the seed, so overlaps do not collide).
            let rest = count - index
            var tail: UInt64 = 0
            if rest >= 4 {
                tail = UInt64(base.loadUnaligned(fromByteOffset: index, as: UInt32.self))
                    | UInt64(base.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)) << 32
            } else if rest > 0 {
                tail = UInt64(base.load(fromByteOffset: index, as: UInt8.self))
                    | UInt64(base.load(fromByteOffset: index + rest / 2, as: UInt8.self)) << 8
                    | UInt64(base.load(fromByteOffset: count - 1, as: UInt8.self)) << 16
            }
            hash = (hash ^ tail) &* multiplier
        }
        hash ^= hash >> 33
        hash = hash &* 0xFF51_AFD7_ED55_8CCD
        return hash ^ (hash >> 33)
    }

    /// Whole words, then the last bytes as one word overlapping the previous one (or, below
    /// 8 bytes, two overlapping half words): never a loop over single bytes.
    @inlinable @inline(__always)
    package static func equal(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ count: Int) -> Bool {
        if count >= 8 {
            var index = 0
            while index + 8 < count {
                if a.loadUnaligned(fromByteOffset: index, as: UInt64.self) != b.loadUnaligned(fromByteOffset: index, as: UInt64.self) {
                    return false
                }
                index += 8
            }
            return a.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self) == b.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
        }
        if count >= 4 {
            return a.loadUnaligned(as: UInt32.self) == b.loadUnaligned(as: UInt32.self)
                && a.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self) == b.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
        }
        if count > 0 {
            // 1–3 bytes: the first, the middle and the last cover them all.
            return a.load(as: UInt8.self) == b.load(as: UInt8.self)
                && a.load(fromByteOffset: count >> 1, as: UInt8.self) == b.load(fromByteOffset: count >> 1, as: UInt8.self)
                && a.load(fromByteOffset: count - 1, as: UInt8.self) == b.load(fromByteOffset: count - 1, as: UInt8.self)
        }
        return true
    }
}

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

    private func equals(_ key: Int, _ bytes: UnsafeRawBufferPointer) -> Bool {
        let start = key == 0 ? 0 : ends[key - 1]
        let end = ends[key]
        guard end - start == bytes.count else { return false }
        return arena.withUnsafeBytes { arena in
            bytes.count == 0 || memcmp(arena.baseAddress! + start, bytes.baseAddress!, bytes.count) == 0
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

    /// FNV-1a, then a final mix so nearby strings spread over the table.
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        hash ^= hash >> 33
        hash = hash &* 0xFF51_AFD7_ED55_8CCD
        return hash ^ (hash >> 33)
    }
}

#if canImport(Glibc)
import Glibc
#endif

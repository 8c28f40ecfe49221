#if canImport(Glibc)
import Glibc
#endif
import Storage
import Synchronization

/// A stream's memory of ILP series keys — the bytes from a line's start to its first space:
/// the table name and the tag section, InfluxDB's "series key" — and how they parsed. Streams
/// repeat a modest set of series (TSBS: 1 000 hosts with ten tags each), and identical bytes
/// parse to identical tags, so a line whose series key was seen skips tokenizing it: one scan
/// for the first space, one hash and compare, then the tags are copied from the template.
///
/// Each remembered series has an id, stable for one `generation`, which the row writer uses to
/// find the SYMBOL keys its batch gave those tags (`LineSeriesKeys`) without hashing again.
/// Generations are unique in the process: ids of one memory never mean anything to another.
///
/// Only keys without a backslash (so the first space ends them) and with at least one tag are
/// remembered. Bounded by series, bytes and tags; when full it starts a new generation, and a
/// stream whose keys never repeat (every line a new series) stops looking for a while.
///
/// Owned by one `LineIngestor` and used by the parser of whichever stream feeds it (one task
/// at a time). Raw allocations: it is reached on every line.
package final class LineSeriesMemo {
    package static let maxSeries = 4_096
    static let maxBytes = 512 << 10
    static let maxTags = 32 << 10
    /// Longest key looked for: the scan for the first space stops here.
    static let maxKeyBytes = 4_096
    /// Twice `maxSeries`, so the table is at most half full.
    private static let slotCount = 2 * maxSeries
    /// Lines looked up in a row without a hit before the memory rests (a stream of ever new
    /// series gains nothing from it), and for how many lines it then rests.
    package static let fruitlessLimit = 4_096
    static let restLines = 65_536

    private static let generations = Atomic<UInt64>(0)

    private struct Series {
        var hash: UInt64
        var start: Int32
        var length: Int32
        var tagsStart: Int32
        var tagCount: Int32
        var tableEnd: Int32
        /// A byte of the key has its high bit set: the line's UTF-8 check must read its tags.
        var highBit: Bool
    }

    /// A tag's name and value, relative to the line's start.
    struct Tag {
        var nameStart: Int32
        var nameEnd: Int32
        var valueStart: Int32
        var valueEnd: Int32
    }

    /// Names the current set of ids; a new one after every reset.
    package private(set) var generation: UInt64
    /// Open addressing over series indexes (−1 empty); allocated on first use.
    private var slots: UnsafeMutablePointer<Int32>?
    private var series: UnsafeMutablePointer<Series>?
    private var count = 0
    private var arena = GrowingBuffer<UInt8>()
    private var tags = GrowingBuffer<Tag>()
    private var fruitless = 0
    private var resting = 0

    package init() {
        generation = Self.generations.wrappingAdd(1, ordering: .relaxed).newValue
    }

    deinit {
        slots?.deallocate()
        series?.deallocate()
    }

    /// Series remembered in this generation.
    package var seriesCount: Int { count }

    /// Whether this line should look up its key (the memory is not resting).
    @inline(__always)
    func shouldLook() -> Bool {
        if resting == 0 { return true }
        resting -= 1
        return false
    }

    /// A line looked up without a hit (whether remembered or not).
    func noteMiss() {
        fruitless += 1
        if fruitless >= Self.fruitlessLimit {
            fruitless = 0
            resting = Self.restLines
        }
    }

    /// A hash of a series key: two independent multiply chains over 16 bytes a step (keys are
    /// ~100–200 bytes; one chain's latency per word made hashing cost as much as tokenizing
    /// the tags it stands for), folded and mixed at the end. Each step is a bijection of its
    /// chain for a given word, so keys differing in one word never collide. In memory only.
    @inline(__always)
    static func hash(_ key: UnsafeRawBufferPointer) -> UInt64 {
        let count = key.count
        guard count >= 16, let base = key.baseAddress else { return ShortBytes.hash(key) }
        let m1: UInt64 = 0x9E37_79B9_7F4A_7C15, m2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
        var a = UInt64(count) &* m1, b = UInt64(count) ^ m2
        var index = 0
        while index + 16 < count {
            a = (a ^ base.loadUnaligned(fromByteOffset: index, as: UInt64.self)) &* m1
            b = (b ^ base.loadUnaligned(fromByteOffset: index + 8, as: UInt64.self)) &* m2
            index += 16
        }
        // The last 16 bytes, overlapping the step before when the count is not a multiple of 16.
        a = (a ^ base.loadUnaligned(fromByteOffset: count - 16, as: UInt64.self)) &* m1
        b = (b ^ base.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)) &* m2
        var hash = a ^ (b << 32 | b >> 32)
        hash ^= hash >> 33
        hash = hash &* 0xFF51_AFD7_ED55_8CCD
        return hash ^ (hash >> 33)
    }

    /// The remembered series with these key bytes, if any.
    @inline(__always)
    func find(_ key: UnsafeRawBufferPointer, hash: UInt64) -> Int? {
        guard count > 0, let slots, let series else { return nil }
        let mask = Self.slotCount - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let index = Int(slots[slot])
            if index < 0 { return nil }
            let known = series[index]
            // Keys run to a few hundred bytes (TSBS: ~190): libc's vector memcmp beats the
            // word loop of `ShortBytes.equal` past a few words.
            if known.hash == hash && Int(known.length) == key.count
                && (key.count < 64
                    ? ShortBytes.equal(arena.base + Int(known.start), key.baseAddress.unsafelyUnwrapped, key.count)
                    : memcmp(arena.base + Int(known.start), key.baseAddress.unsafelyUnwrapped, key.count) == 0)
            {
                fruitless = 0
                return index
            }
            slot = (slot + 1) & mask
        }
    }

    /// Series `index`: where its table name ends and its tags, relative to the line's start.
    @inline(__always)
    func template(_ index: Int) -> (tableEnd: Int, tags: UnsafeBufferPointer<Tag>, highBit: Bool) {
        let known = series.unsafelyUnwrapped[index]
        return (Int(known.tableEnd), UnsafeBufferPointer(start: tags.base + Int(known.tagsStart), count: Int(known.tagCount)),
                known.highBit)
    }

    /// Remembers the key of a line just parsed up to its first space, and its tags (`entities`
    /// with ranges in the buffer, `lineStart` the key's first byte); returns its id, or `nil`
    /// when it cannot be kept. A full memory starts a new generation first.
    func remember(
        _ key: UnsafeRawBufferPointer, hash: UInt64, lineStart: Int, tableEnd: Int, entities: UnsafePointer<LineEntity>, tagCount: Int
    ) -> Int? {
        guard tagCount > 0, key.count <= Self.maxKeyBytes, tagCount <= Self.maxTags else { return nil }
        if count >= Self.maxSeries || arena.count + key.count > Self.maxBytes || tags.count + tagCount > Self.maxTags { reset() }
        if slots == nil {
            slots = .allocate(capacity: Self.slotCount)
            slots!.initialize(repeating: -1, count: Self.slotCount)
            series = .allocate(capacity: Self.maxSeries)
        }
        let slots = self.slots!
        let mask = Self.slotCount - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while slots[slot] >= 0 { slot = (slot + 1) & mask }
        slots[slot] = Int32(count)
        var highBit = false
        for byte in key where byte & 0x80 != 0 { highBit = true }
        (series! + count).initialize(to: Series(
            hash: hash, start: Int32(arena.count), length: Int32(key.count), tagsStart: Int32(tags.count),
            tagCount: Int32(tagCount), tableEnd: Int32(tableEnd - lineStart), highBit: highBit))
        arena.append(UnsafeBufferPointer(start: key.baseAddress!.assumingMemoryBound(to: UInt8.self), count: key.count))
        for index in 0..<tagCount {
            let entity = entities[index]
            tags.append(Tag(
                nameStart: Int32(entity.name.start - lineStart), nameEnd: Int32(entity.name.end - lineStart),
                valueStart: Int32(entity.range.start - lineStart), valueEnd: Int32(entity.range.end - lineStart)))
        }
        count += 1
        return count - 1
    }

    /// Forgets every series; ids from now on belong to a new generation.
    private func reset() {
        if let slots { slots.update(repeating: -1, count: Self.slotCount) }
        count = 0
        arena.removeAll()
        tags.removeAll()
        generation = Self.generations.wrappingAdd(1, ordering: .relaxed).newValue
    }
}

/// A table writer's SYMBOL entry keys per series id of a `LineSeriesMemo`: (column position,
/// key) pairs that set a repeated series' tags with one `RowBatch.setSymbolKeys` call, instead
/// of a column resolution and a dictionary lookup per tag.
///
/// Keys are the batch's (decision 0031): valid for one `RowBatch.dictionaryEpoch` and one memo
/// generation, and forgotten when either changes (a commit keeps the epoch while the batch keeps
/// its values, decision 0043).
struct LineSeriesKeys: ~Copyable {
    private(set) var epoch = -1
    private(set) var generation: UInt64 = 0
    /// Per series id: where its pairs start in `pairs` (−1: unknown) and how many values.
    private var starts: UnsafeMutablePointer<Int32>?
    private var counts: UnsafeMutablePointer<Int32>?
    /// Ids with pairs, so forgetting touches only those.
    private var known = GrowingBuffer<Int32>()
    private var pairs = GrowingBuffer<Int32>()

    init() {}

    deinit {
        starts?.deallocate()
        counts?.deallocate()
    }

    /// Whether the pairs held belong to this batch epoch and memo generation.
    @inline(__always)
    func isCurrent(epoch: Int, generation: UInt64) -> Bool { self.epoch == epoch && self.generation == generation }

    /// The pairs of series `id`, if known; valid until the keys next change.
    @inline(__always)
    func pairs(of id: Int) -> UnsafeBufferPointer<Int32>? {
        guard let starts, starts[id] >= 0 else { return nil }
        return UnsafeBufferPointer(start: pairs.base + Int(starts[id]), count: Int(counts.unsafelyUnwrapped[id]))
    }

    /// Forgets every series' pairs; those remembered from now on belong to `epoch` and `generation`.
    mutating func forget(epoch: Int, generation: UInt64) {
        if let starts {
            for index in 0..<known.count { starts[Int(known.base[index])] = -1 }
        }
        known.removeAll()
        pairs.removeAll()
        self.epoch = epoch
        self.generation = generation
    }

    mutating func remember(_ id: Int, pairs newPairs: UnsafeBufferPointer<Int32>) {
        precondition(id >= 0 && id < LineSeriesMemo.maxSeries, "series id \(id) out of range")
        if starts == nil {
            starts = .allocate(capacity: LineSeriesMemo.maxSeries)
            starts!.initialize(repeating: -1, count: LineSeriesMemo.maxSeries)
            counts = .allocate(capacity: LineSeriesMemo.maxSeries)
            counts!.initialize(repeating: 0, count: LineSeriesMemo.maxSeries)
        }
        guard starts![id] < 0 else { return }
        starts![id] = Int32(pairs.count)
        counts![id] = Int32(newPairs.count)
        known.append(Int32(id))
        pairs.append(newPairs)
    }
}

/// A growable run of trivial values in one allocation (noncopyable: never aliased).
struct GrowingBuffer<Element: BitwiseCopyable>: ~Copyable {
    private(set) var base = UnsafeMutablePointer<Element>.allocate(capacity: 64)
    private(set) var count = 0
    private var capacity = 64

    init() {}

    deinit { base.deallocate() }

    mutating func removeAll() { count = 0 }

    var buffer: UnsafeBufferPointer<Element> { UnsafeBufferPointer(start: base, count: count) }

    mutating func append(_ first: Element, _ second: Element) {
        reserve(2)
        (base + count).initialize(to: first)
        (base + count + 1).initialize(to: second)
        count += 2
    }

    mutating func append(_ value: Element) {
        reserve(1)
        (base + count).initialize(to: value)
        count += 1
    }

    mutating func append(_ values: UnsafeBufferPointer<Element>) {
        reserve(values.count)
        if let source = values.baseAddress { (base + count).update(from: source, count: values.count) }
        count += values.count
    }

    private mutating func reserve(_ more: Int) {
        guard count + more > capacity else { return }
        let newCapacity = max(count + more, capacity * 2)
        let grown = UnsafeMutablePointer<Element>.allocate(capacity: newCapacity)
        grown.update(from: base, count: count)
        base.deallocate()
        base = grown
        capacity = newCapacity
    }
}

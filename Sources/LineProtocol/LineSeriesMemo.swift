import Storage

/// A table writer's memory of ILP tag sections — the bytes from a line's first tag name to its
/// last tag value, InfluxDB's "series key" without the measurement — and the SYMBOL entry keys
/// those tags got in the writer's batch. Streams repeat a modest set of series (TSBS: 1 000
/// hosts with ten tags each), so a line whose tag section was seen sets all its tags with one
/// hash and compare of those bytes instead of a column resolution and a dictionary lookup per
/// tag. Identical bytes parse to identical tags, so the row is the one the tags would give.
///
/// Keys are the batch's (decision 0031): the memory is valid for one `RowBatch.dictionaryEpoch`
/// and is forgotten when it changes (every commit resets the batch). Bounded by series count
/// and bytes; past either it stops remembering until the next epoch.
///
/// Raw allocations rather than arrays: the writer reaches it through a class on every line, and
/// arrays there cost a retain and release each per lookup.
struct LineSeriesMemo: ~Copyable {
    static let maxSeries = 4_096
    static let maxBytes = 1 << 20
    /// Twice `maxSeries`, so the table is at most half full.
    private static let slotCount = 2 * maxSeries

    private struct Series {
        var hash: UInt64
        var start: Int32
        var length: Int32
        var pairsStart: Int32
        var pairsCount: Int32
    }

    /// The batch epoch the remembered keys belong to.
    private(set) var epoch = -1
    /// Open addressing over series indexes (−1 empty); allocated on first use.
    private var slots: UnsafeMutablePointer<Int32>?
    private var series: UnsafeMutablePointer<Series>?
    private var count = 0
    private var arena = GrowingBuffer<UInt8>()
    /// Column position, entry key, … per series.
    private var pairs = GrowingBuffer<Int32>()

    init() {}

    deinit {
        slots?.deallocate()
        series?.deallocate()
    }

    /// Whether `remember` would ignore another series (a batch with more distinct tag sections
    /// than the memory holds keeps the ones seen first).
    var isFull: Bool { count >= Self.maxSeries || arena.count >= Self.maxBytes }

    /// Forgets every series; keys from now on belong to `epoch`.
    mutating func forget(epoch: Int) {
        if count > 0, let slots {
            slots.update(repeating: -1, count: Self.slotCount)
            count = 0
            arena.removeAll()
            pairs.removeAll()
        }
        self.epoch = epoch
    }

    /// The remembered series with these bytes, if any.
    @inline(__always)
    func find(_ bytes: UnsafeRawBufferPointer, hash: UInt64) -> Int? {
        guard count > 0, let slots, let series else { return nil }
        let mask = Self.slotCount - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let index = Int(slots[slot])
            if index < 0 { return nil }
            let known = series[index]
            if known.hash == hash && Int(known.length) == bytes.count
                && ShortBytes.equal(arena.base + Int(known.start), bytes.baseAddress.unsafelyUnwrapped, bytes.count)
            {
                return index
            }
            slot = (slot + 1) & mask
        }
    }

    /// The series' (column position, key) pairs, valid until the memo next changes.
    @inline(__always)
    func pairs(of index: Int) -> UnsafeBufferPointer<Int32> {
        let known = series.unsafelyUnwrapped[index]
        return UnsafeBufferPointer(start: pairs.base + Int(known.pairsStart), count: Int(known.pairsCount))
    }

    /// Remembers a series (not remembered yet) with its pairs; ignored when full.
    mutating func remember(_ bytes: UnsafeRawBufferPointer, hash: UInt64, pairs newPairs: UnsafeBufferPointer<Int32>) {
        guard count < Self.maxSeries, arena.count + bytes.count <= Self.maxBytes, !bytes.isEmpty else { return }
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
        (series! + count).initialize(to: Series(
            hash: hash, start: Int32(arena.count), length: Int32(bytes.count),
            pairsStart: Int32(pairs.count), pairsCount: Int32(newPairs.count)))
        count += 1
        arena.append(UnsafeBufferPointer(start: bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), count: bytes.count))
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

    mutating func append(_ values: UnsafeBufferPointer<Element>) {
        if count + values.count > capacity {
            let newCapacity = max(count + values.count, capacity * 2)
            let grown = UnsafeMutablePointer<Element>.allocate(capacity: newCapacity)
            grown.update(from: base, count: count)
            base.deallocate()
            base = grown
            capacity = newCapacity
        }
        if let source = values.baseAddress { (base + count).update(from: source, count: values.count) }
        count += values.count
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// One partition as `_txn` records it.
package struct PartitionState: Sendable, Equatable {
    /// Start of the partition's time range (µs); `Int64.min` for `PARTITION BY NONE`.
    package var timestamp: Int64
    package var rowCount: UInt64
    /// Directory suffix after an out-of-order rewrite (`2024-01-15.3`); 0 for the first version.
    package var version: UInt32
    /// Lower bound of this part's timestamps. A partition is one or more parts in timestamp
    /// order (out-of-order rows split the tail off instead of rewriting the whole partition,
    /// `TableStore+OutOfOrder.swift`); every row of a part lies in `[splitAt, next part's
    /// splitAt)`. The first part's `splitAt` is `timestamp`.
    package var splitAt: Int64

    package init(timestamp: Int64, rowCount: UInt64, version: UInt32 = 0, splitAt: Int64? = nil) {
        self.timestamp = timestamp
        self.rowCount = rowCount
        self.version = version
        self.splitAt = splitAt ?? timestamp
    }

    /// Whether this is a later part of its partition (split off by out-of-order rows).
    package var isSplit: Bool { splitAt != timestamp }
}

/// A table's committed state: what its column files hold, up to which WAL txn.
package struct TableTxnState: Sendable, Equatable {
    /// Bumped by every write of the state; the valid slot with the higher value wins.
    package var sequence: UInt64 = 0
    /// The last WAL txn whose effects the files hold.
    package var appliedTxn: UInt64 = 0
    package var schemaVersion: UInt64 = 0
    package var minTimestamp = Int64.max
    package var maxTimestamp = Int64.min
    /// Partitions in timestamp order.
    package var partitions: [PartitionState] = []
    /// Entries in each SYMBOL column's dictionary, by column id.
    package var symbolCounts: [UInt32: UInt32] = [:]

    package init() {}

    package var rowCount: UInt64 { partitions.reduce(0) { $0 + $1.rowCount } }
}

/// The `_txn` file: two slots (A/B) each holding a whole `TableTxnState` with its CRC32C.
///
/// A write goes to the slot not holding the current state and is fsynced; a write torn by a
/// crash leaves the other slot intact, so opening always finds the last completed state.
/// Header (little-endian): magic u32 "SDTX", format u16, reserved u16, slot capacity u32,
/// CRC32C u32 of the first 12 bytes. Slot: length u32, body, CRC32C u32 of length and body.
package final class TableTxnFile {
    package static let magic: UInt32 = 0x5854_4453  // "SDTX"
    /// Format 2 added each partition part's `splitAt`; format 1 files (no splits) still open.
    package static let formatVersion: UInt16 = 2
    static let headerSize = 16
    static let initialSlotCapacity = 4096

    package let path: String
    private var fd: Int32
    private var slotCapacity: Int
    /// Slot holding `state` (0 or 1).
    private var activeSlot: Int
    package private(set) var state: TableTxnState
    private let io: StorageIO
    /// The format the file on disk is in: a format-1 file is replaced whole by its first write.
    private var fileFormat: UInt16

    /// Opens `_txn`, or creates it holding `initial` when it does not exist.
    package init(path: String, creatingWith initial: TableTxnState? = nil, io: StorageIO = .system) throws(StorageError) {
        self.path = path
        self.io = io
        if let bytes = try DurableFile.read(path, maxBytes: 1 << 30) {
            let (state, slot, capacity, format) = try TableTxnFile.decode(bytes, path: path)
            self.state = state
            self.activeSlot = slot
            self.slotCapacity = capacity
            self.fileFormat = format
        } else {
            guard let initial else { throw StorageError(.corrupt, path: path, "table state file is missing") }
            var first = initial
            first.sequence = 1
            let capacity = TableTxnFile.capacity(for: first)
            try DurableFile.replace(path, with: TableTxnFile.image(first, capacity: capacity), io: io)
            self.state = first
            self.activeSlot = 0
            self.slotCapacity = capacity
            self.fileFormat = TableTxnFile.formatVersion
        }
        fd = open(path, O_RDWR | O_CLOEXEC)
        if fd < 0 { throw StorageError(.io, path: path, "cannot open table state file", errno: errno) }
    }

    deinit {
        close(fd)
    }

    /// Makes `newState` the durable state: written to the inactive slot and fsynced.
    package func write(_ newState: TableTxnState) throws(StorageError) {
        var next = newState
        next.sequence = state.sequence + 1
        let slot = TableTxnFile.encodeSlot(next)
        if slot.count > slotCapacity || fileFormat != TableTxnFile.formatVersion {
            // Grow (or upgrade the format): a new file with room to spare, replaced atomically.
            let capacity = TableTxnFile.capacity(for: next)
            try DurableFile.replace(path, with: TableTxnFile.image(next, capacity: capacity), io: io)
            close(fd)
            fd = open(path, O_RDWR | O_CLOEXEC)
            if fd < 0 { throw StorageError(.io, path: path, "cannot reopen table state file", errno: errno) }
            slotCapacity = capacity
            activeSlot = 0
            fileFormat = TableTxnFile.formatVersion
            state = next
            return
        }
        let target = 1 - activeSlot
        let offset = TableTxnFile.headerSize + target * slotCapacity
        let written = slot.withUnsafeBytes { io.pwrite(fd, $0, offset) }
        guard written == slot.count else {
            throw StorageError(.io, path: path, "cannot write table state", errno: written < 0 ? errno : EIO)
        }
        guard io.fdatasync(fd) == 0 else { throw StorageError(.io, path: path, "fdatasync of table state failed", errno: errno) }
        activeSlot = target
        state = next
    }

    // MARK: Encoding

    static func capacity(for state: TableTxnState) -> Int {
        var capacity = initialSlotCapacity
        while capacity < encodeSlot(state).count * 2 { capacity *= 2 }
        return capacity
    }

    static func image(_ state: TableTxnState, capacity: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendLittleEndian(magic)
        bytes.appendLittleEndian(formatVersion)
        bytes.appendLittleEndian(UInt16(0))
        bytes.appendLittleEndian(UInt32(capacity))
        bytes.appendLittleEndian(CRC32C.checksum(bytes))
        var slot = encodeSlot(state)
        slot.append(contentsOf: [UInt8](repeating: 0, count: capacity - slot.count))
        bytes.append(contentsOf: slot)
        bytes.append(contentsOf: [UInt8](repeating: 0, count: capacity))
        return bytes
    }

    static func encodeSlot(_ state: TableTxnState) -> [UInt8] {
        var body: [UInt8] = []
        body.appendLittleEndian(state.sequence)
        body.appendLittleEndian(state.appliedTxn)
        body.appendLittleEndian(state.schemaVersion)
        body.appendLittleEndian(state.minTimestamp)
        body.appendLittleEndian(state.maxTimestamp)
        body.appendLittleEndian(UInt32(state.partitions.count))
        for partition in state.partitions {
            body.appendLittleEndian(partition.timestamp)
            body.appendLittleEndian(partition.rowCount)
            body.appendLittleEndian(partition.version)
            body.appendLittleEndian(partition.splitAt)
        }
        body.appendLittleEndian(UInt32(state.symbolCounts.count))
        for (column, count) in state.symbolCounts.sorted(by: { $0.key < $1.key }) {
            body.appendLittleEndian(column)
            body.appendLittleEndian(count)
        }
        var slot: [UInt8] = []
        slot.appendLittleEndian(UInt32(body.count))
        slot.append(contentsOf: body)
        slot.appendLittleEndian(CRC32C.checksum(slot))
        return slot
    }

    /// The newest valid slot's state, its index, the slot capacity and the file's format.
    static func decode(_ bytes: [UInt8], path: String) throws(StorageError) -> (TableTxnState, Int, Int, UInt16) {
        var header = BinaryReader(bytes)
        guard let magicValue = try? header.read(UInt32.self), magicValue == magic,
              let version = try? header.read(UInt16.self), let _ = try? header.read(UInt16.self),
              let capacityValue = try? header.read(UInt32.self), let stored = try? header.read(UInt32.self),
              CRC32C.checksum(bytes[0..<12]) == stored
        else { throw StorageError(.corrupt, path: path, "table state header is damaged") }
        guard version == 1 || version == formatVersion else {
            throw StorageError(.unsupportedVersion, path: path, "table state format \(version) is not supported")
        }
        let capacity = Int(capacityValue)
        guard capacity >= 64, bytes.count >= headerSize + 2 * capacity else {
            throw StorageError(.corrupt, path: path, "table state file is truncated")
        }
        let slots = (0..<2).map { index in
            decodeSlot(Array(bytes[(headerSize + index * capacity)..<(headerSize + (index + 1) * capacity)]), format: version)
        }
        let valid = slots.enumerated().compactMap { index, state in state.map { ($0, index) } }
        guard let newest = valid.max(by: { $0.0.sequence < $1.0.sequence }) else {
            throw StorageError(.corrupt, path: path, "both table state slots are damaged")
        }
        return (newest.0, newest.1, capacity, version)
    }

    private static func decodeSlot(_ bytes: [UInt8], format: UInt16) -> TableTxnState? {
        var reader = BinaryReader(bytes)
        guard let length = try? reader.read(UInt32.self), Int(length) + 8 <= bytes.count else { return nil }
        let end = 4 + Int(length)
        let stored = bytes.withUnsafeBytes { $0.loadLittleEndian(fromByteOffset: end, as: UInt32.self) }
        guard CRC32C.checksum(bytes[0..<end]) == stored else { return nil }
        var body = BinaryReader(Array(bytes[4..<end]))
        do {
            var state = TableTxnState()
            state.sequence = try body.read(UInt64.self)
            state.appliedTxn = try body.read(UInt64.self)
            state.schemaVersion = try body.read(UInt64.self)
            state.minTimestamp = try body.read(Int64.self)
            state.maxTimestamp = try body.read(Int64.self)
            let count = Int(try body.read(UInt32.self))
            let entryBytes = format == 1 ? 20 : 28
            guard count * entryBytes <= body.remaining else { return nil }
            for _ in 0..<count {
                var partition = PartitionState(
                    timestamp: try body.read(Int64.self), rowCount: try body.read(UInt64.self),
                    version: try body.read(UInt32.self))
                if format > 1 { partition.splitAt = try body.read(Int64.self) }
                state.partitions.append(partition)
            }
            let symbols = Int(try body.read(UInt32.self))
            guard symbols * 8 == body.remaining else { return nil }
            for _ in 0..<symbols {
                state.symbolCounts[try body.read(UInt32.self)] = try body.read(UInt32.self)
            }
            return state
        } catch {
            return nil
        }
    }
}

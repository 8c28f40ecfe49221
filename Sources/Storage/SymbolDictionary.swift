#if canImport(Glibc)
import Glibc
#endif

/// A SYMBOL column's dictionary (`col<id>.sym`, table level): value ↔ Int32 key, append-only.
///
/// File: entries of u32 length + UTF-8 bytes, key = entry index. Entries past the count in
/// `_txn` (added after the last checkpoint) are cut at open; replay re-adds them in the same
/// order, so keys come out the same.
struct SymbolDictionary {
    let path: String
    private(set) var values: [String] = []
    private(set) var keys: [String: Int32] = [:]
    /// The hot path: bytes → key without building a `String`.
    private var interner = ByteInterner()
    private var fileSize = 0
    private var fd: Int32 = -1
    private(set) var dirty = false
    private let io: StorageIO

    /// Opens the dictionary, keeping exactly `count` entries.
    init(path: String, count: UInt32, io: StorageIO) throws(StorageError) {
        self.path = path
        self.io = io
        let existing = try DurableFile.read(path, maxBytes: 1 << 31)
        let bytes = existing ?? []
        var offset = 0
        while values.count < Int(count) {
            guard offset + 4 <= bytes.count else {
                throw StorageError(.corrupt, path: path, "symbol dictionary holds fewer than its \(count) committed entries")
            }
            let length = bytes.withUnsafeBytes { Int($0.loadLittleEndian(fromByteOffset: offset, as: UInt32.self)) }
            guard offset + 4 + length <= bytes.count,
                  let value = String(validating: bytes[(offset + 4)..<(offset + 4 + length)], as: UTF8.self)
            else { throw StorageError(.corrupt, path: path, "symbol dictionary entry \(values.count) is damaged") }
            keys[value] = Int32(values.count)
            values.append(value)
            _ = bytes.withUnsafeBytes { interner.insert(UnsafeRawBufferPointer(rebasing: $0[(offset + 4)..<(offset + 4 + length)])) }
            offset += 4 + length
        }
        fileSize = offset
        fd = io.create(path, O_RDWR, 0o644)
        if fd < 0 { throw StorageError(.io, path: path, "cannot open symbol dictionary", errno: errno) }
        // A new dictionary's entry must outlive a power loss before `_txn` counts its values:
        // a column added later gets no new partition directory whose fsync would cover it.
        if existing == nil { try DurableFile.syncDirectory(containing: path, io: io) }
        if bytes.count > offset { try ColumnFiles.truncate(path, to: offset) }
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
    }

    /// The key of `value`, adding it when new.
    mutating func intern(_ value: UnsafeRawBufferPointer) throws(StorageError) -> Int32 {
        if let key = interner.key(of: value) { return key }
        let text = String(decoding: value, as: UTF8.self)
        guard values.count < Int(Int32.max) else {
            throw StorageError(.limitExceeded, path: path, "symbol dictionary is full")
        }
        var entry: [UInt8] = []
        entry.appendLittleEndian(UInt32(value.count))
        entry.append(contentsOf: value)
        try entry.withUnsafeBytes { bytes in
            Result { () throws(StorageError) in try ColumnFiles.write(fd, bytes, at: fileSize, path: path, io: io) }
        }.get()
        fileSize += entry.count
        let key = interner.insert(value)
        precondition(Int(key) == values.count, "symbol interner and dictionary disagree")
        keys[text] = key
        values.append(text)
        dirty = true
        return key
    }

    /// The table keys of a batch's SYMBOL column (`ColumnBuffer`, decision 0031) into `keys`, a
    /// key per row (−1 NULL): each dictionary entry is interned once, in order of first use —
    /// so keys are assigned as a row-by-row pass would — and the rows' entry keys mapped.
    /// `tableKeys` is scratch (a key per entry), reused by the caller.
    mutating func intern(_ column: ColumnBuffer, keys: inout [Int32], tableKeys: inout [Int32]) throws(StorageError) {
        tableKeys.removeAll(keepingCapacity: true)
        tableKeys.reserveCapacity(column.lengths.count)
        var offset = 0
        for length in column.lengths {
            tableKeys.append(try intern(UnsafeRawBufferPointer(rebasing: column.data[offset..<offset + Int(length)])))
            offset += Int(length)
        }
        let rows = column.fixed.count / 4
        if keys.count < rows {
            keys.append(contentsOf: repeatElement(0, count: rows - keys.count))
        } else {
            keys.removeLast(keys.count - rows)
        }
        let entryKeys = column.fixed
        tableKeys.withUnsafeBufferPointer { tableKeys in
            keys.withUnsafeMutableBufferPointer { keys in
                for row in 0..<rows {
                    let key = entryKeys.loadUnaligned(fromByteOffset: row * 4, as: Int32.self)
                    keys[row] = key < 0 ? -1 : tableKeys[Int(key)]
                }
            }
        }
    }

    mutating func sync() throws(StorageError) {
        guard dirty else { return }
        try ColumnFiles.sync(fd, path: path, io: io)
        dirty = false
    }
}

import CFileIO
#if canImport(Glibc)
import Glibc
#endif

/// File-level helpers for column data: names, appends at an offset, truncation, mapping.
/// The only place (with DurableFile and the WAL) where Storage issues raw system calls.
package enum ColumnFiles {
    /// `col<id>.d`: files are named by the column's stable id, so a rename never touches data.
    package static func dataFileName(columnID: UInt32) -> String { "col\(columnID).d" }

    /// `col<id>.i`: a var-size column's offsets, rows + 1 little-endian u64 end offsets.
    package static func offsetFileName(columnID: UInt32) -> String { "col\(columnID).i" }

    /// `col<id>.sym`: a SYMBOL column's dictionary, at table level.
    package static func symbolFileName(columnID: UInt32) -> String { "col\(columnID).sym" }

    /// Bit 63 of a `.i` end offset marks the row's value as NULL (as opposed to empty).
    package static let nullFlag: UInt64 = 1 << 63

    /// Reads entry `row` of a `.i` file.
    static func readOffset(_ path: String, row: Int) throws(StorageError) -> UInt64 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw StorageError(.io, path: path, "cannot open offsets file", errno: errno) }
        defer { close(fd) }
        var value = UInt64(0)
        let count = withUnsafeMutableBytes(of: &value) { pread(fd, $0.baseAddress, 8, off_t(row * 8)) }
        guard count == 8 else { throw StorageError(.corrupt, path: path, "offsets file has no entry for row \(row)") }
        return UInt64(littleEndian: value)
    }

    /// Truncates a column file to `length` bytes (writes after the checkpoint, and blocks
    /// allocated ahead of them that a crash left: decision 0046); a shorter file is damage: it
    /// cannot hold the `rows` committed rows.
    static func cut(_ path: String, to length: Int, rows: UInt64) throws(StorageError) {
        var info = stat()
        guard stat(path, &info) == 0, Int(info.st_size) >= length else {
            throw StorageError(
                .corrupt, path: path, "column file holds fewer than the \(rows) committed rows; the table refuses writes")
        }
        if Int(info.st_size) > length || sundial_holds_blocks_ahead(Int64(info.st_size), Int64(info.st_blocks)) != 0 {
            try truncate(path, to: length)
        }
    }

    /// Directory name of a partition version: `2024-01-15`, then `2024-01-15.1`, `.2`, …
    package static func partitionDirectoryName(_ partition: PartitionState, by unit: PartitionBy) -> String {
        // A later part of a partition is named by its split point (µs since the epoch, as the
        // part's lower bound): `2024-01-15+1705318200000000.2`.
        var name = PartitionTime.name(of: partition.timestamp, by: unit)
        if partition.isSplit { name += "+\(partition.splitAt)" }
        return partition.version == 0 ? name : "\(name).\(partition.version)"
    }

    static func openForAppend(_ path: String, io: StorageIO) throws(StorageError) -> Int32 {
        let fd = io.create(path, O_WRONLY, 0o644)
        if fd < 0 { throw StorageError(.io, path: path, "cannot open column file", errno: errno) }
        return fd
    }

    /// `pastPageCache`: a backlog's append (decision 0045), written with direct I/O when at
    /// least `io.directWriteMinBytes` and the file system allows. `preallocating`: an append to
    /// a file the next checkpoint closes (`releasePreallocation`), whose blocks are allocated
    /// ahead of it (decision 0046).
    static func write(
        _ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String, io: StorageIO, pastPageCache: Bool = false,
        preallocating: Bool = false
    ) throws(StorageError) {
        if preallocating, bytes.count >= preallocationMinBytes, let preallocate = io.preallocate {
            allocateAhead(fd, appending: bytes.count, at: offset, preallocate)
        }
        if pastPageCache, bytes.count >= io.directWriteMinBytes, let setDirectIO = io.setDirectIO,
           try writeDirect(fd, bytes, at: offset, path: path, io: io, setDirectIO: setDirectIO)
        {
            return
        }
        try writeBuffered(fd, bytes, at: offset, path: path, io: io)
    }

    /// Alignment of a direct write's file offset, length and memory: the page size, which every
    /// device's logical block divides.
    static let directIOAlignment = 4096

    /// Writes `bytes` at `offset` with the whole aligned blocks in between past the page cache
    /// (decision 0045) and the partial blocks at either end through it — they share pages with
    /// the bytes before and after. A large append (a replica catching up, a replay) then costs
    /// the CPU no page-cache pages: on a VM whose host takes freed memory back, getting those is
    /// most of an apply's time. False, having written nothing, when there is no whole block to
    /// write; a file system that refuses direct I/O gets the bytes through the page cache.
    private static func writeDirect(
        _ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String, io: StorageIO,
        setDirectIO: @Sendable (Int32, Bool) -> Int32
    ) throws(StorageError) -> Bool {
        let alignment = directIOAlignment
        let end = offset + bytes.count
        let alignedStart = (offset + alignment - 1) / alignment * alignment
        let alignedEnd = end / alignment * alignment
        guard alignedEnd > alignedStart else { return false }
        // The head first, so the direct write extends the file without a gap.
        try writeBuffered(fd, UnsafeRawBufferPointer(rebasing: bytes[..<(alignedStart - offset)]), at: offset, path: path, io: io)
        guard setDirectIO(fd, true) == 0 else {
            try writeBuffered(fd, UnsafeRawBufferPointer(rebasing: bytes[(alignedStart - offset)...]), at: alignedStart, path: path, io: io)
            return true
        }
        // The batch's memory is not block-aligned: each piece is copied to an aligned buffer.
        let piece = min(1 << 20, alignedEnd - alignedStart)
        let aligned = UnsafeMutableRawPointer.allocate(byteCount: piece, alignment: alignment)
        defer { aligned.deallocate() }
        var position = alignedStart
        var failure: Int32 = 0
        while position < alignedEnd {
            let count = min(piece, alignedEnd - position)
            aligned.copyMemory(from: bytes.baseAddress! + (position - offset), byteCount: count)
            let written = io.pwrite(fd, UnsafeRawBufferPointer(start: aligned, count: count), position)
            if written < 0 {
                if errno == EINTR { continue }
                // EINVAL: a file system that took the flag but not the write (alignment rules
                // of its own) — the rest goes through the page cache.
                if errno != EINVAL { failure = errno }
                break
            }
            position += written
            // A short write that ends inside a block: the rest goes through the page cache.
            if written % alignment != 0 || written == 0 { break }
        }
        // Left on, the file's next unaligned write would fail.
        if setDirectIO(fd, false) != 0 && failure == 0 { failure = errno }
        StorageMetrics.wroteDirectly(bytes: position - alignedStart)
        if failure != 0 { throw StorageError(.io, path: path, "column write failed", errno: failure) }
        try writeBuffered(fd, UnsafeRawBufferPointer(rebasing: bytes[(position - offset)...]), at: position, path: path, io: io)
        return true
    }

    private static func writeBuffered(
        _ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String, io: StorageIO
    ) throws(StorageError) {
        guard !bytes.isEmpty else { return }
        var done = 0
        while done < bytes.count {
            let count = io.pwrite(fd, UnsafeRawBufferPointer(rebasing: bytes[done...]), offset + done)
            if count < 0 {
                if errno == EINTR { continue }
                throw StorageError(.io, path: path, "column write failed", errno: errno)
            }
            done += count
        }
        // Chunks this write completed go to writeback now, so a checkpoint's fsync of every
        // file written since the last one has little left to write — instead of all of it at
        // once, with the WAL's fdatasyncs queued behind it (decision 0035). Stateless: the
        // chunks whose last byte this write wrote.
        let first = offset / writebackChunk, last = (offset + bytes.count) / writebackChunk
        if last > first { io.startWriteback(fd, first * writebackChunk, (last - first) * writebackChunk) }
    }

    /// Column bytes go to writeback in whole chunks of this size as appends complete them.
    static let writebackChunk = 1 << 20

    // MARK: Allocation ahead (decision 0046)

    /// Appends smaller than this allocate nothing ahead: a table written a few rows at a time
    /// would hold more space ahead than it fills between checkpoints.
    static let preallocationMinBytes = 16 << 10

    /// The chunk a file is allocated by for an append of `count` bytes: eight appends' worth,
    /// from 256 KiB to 2 MiB, so what a file holds ahead stays small beside what it receives.
    package static func preallocationStep(appending count: Int) -> Int {
        let power = 1 << (Int.bitWidth - (max(count, 1) - 1).leadingZeroBitCount)
        return min(max(power * 8, 256 << 10), 2 << 20)
    }

    /// When an append starts a file or enters a chunk of it, allocates that chunk and the next
    /// (`fallocate`, keeping the file's length): the appends that fill them find their blocks
    /// in place, where the kernel would otherwise reserve and later allocate blocks page by
    /// page — a fifth of the CPU of writing a column through the page cache on this machine —
    /// and the file's extents come out contiguous. Stateless (the chunk boundaries follow from
    /// the offsets); a failure (a file system without it, a full disk) only loses the hint —
    /// the write itself reports a full disk.
    private static func allocateAhead(
        _ fd: Int32, appending count: Int, at offset: Int, _ preallocate: @Sendable (Int32, Int, Int) -> Int32
    ) {
        let step = preallocationStep(appending: count)
        let lastChunk = (offset + count - 1) / step
        guard offset == 0 || lastChunk != (offset - 1) / step else { return }
        _ = preallocate(fd, lastChunk * step, 2 * step)
    }

    /// Gives back the blocks a file holds allocated past its end (`allocateAhead`) before the
    /// file is closed: cutting it at its own length frees them.
    static func releasePreallocation(_ fd: Int32, io: StorageIO) {
        if io.preallocate != nil { io.releasePreallocated(fd) }
    }

    /// Size of the file at `path`, or `nil` when it does not exist.
    static func size(_ path: String) -> Int? {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : nil
    }

    static func truncate(_ path: String, to length: Int) throws(StorageError) {
        if Glibc.truncate(path, off_t(length)) != 0 {
            throw StorageError(.io, path: path, "cannot truncate column file to \(length) bytes", errno: errno)
        }
    }

    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    static func sync(_ fd: Int32, path: String, io: StorageIO) throws(StorageError) {
        if io.fdatasync(fd) != 0 { throw StorageError(.io, path: path, "fdatasync of column file failed", errno: errno) }
    }

    /// Removes a directory tree (a partition left by an interrupted write). Best effort and not
    /// made durable: whatever reappears after a power loss is removed again on open.
    package static func removeTree(_ path: String, io: StorageIO = .system) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in (try? entries(of: path)) ?? [] { removeTree(path + "/" + name, io: io) }
            _ = io.rmdir(path)
        } else {
            _ = io.unlink(path)
        }
    }

    /// Names in a directory, without `.` and `..`.
    package static func entries(of directory: String) throws(StorageError) -> [String] {
        guard let handle = opendir(directory) else {
            throw StorageError(.io, path: directory, "cannot list directory", errno: errno)
        }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

/// A read-only mapping of the first `length` bytes of a column file, unmapped when released.
/// Snapshots map up to their committed row count, so later appends never show through.
package final class MappedColumn: @unchecked Sendable {
    private let base: UnsafeMutableRawPointer?
    package let length: Int

    init(path: String, length: Int) throws(StorageError) {
        self.length = length
        guard length > 0 else {
            base = nil
            return
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw StorageError(.io, path: path, "cannot open column file for reading", errno: errno) }
        defer { close(fd) }
        let mapped = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0)
        if mapped == MAP_FAILED { throw StorageError(.io, path: path, "cannot map column file", errno: errno) }
        base = mapped
    }

    deinit {
        if let base { munmap(base, length) }
    }

    /// The mapped bytes. Immutable for the mapping's life (`@unchecked Sendable` rests on it).
    package func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: length))
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// A consistent copy of every table's files at one checkpointed txn, for bootstrapping a replica
/// (DESIGN §5 snapshot bootstrap, decision 0012).
///
/// Taken on the applier's queue right after a checkpoint: `_meta` and `_txn` (small, rewritten
/// in place or replaced) are copied into memory; every other file (column data, offsets, symbol
/// dictionaries — only ever appended to, or replaced by new partition versions) is hard-linked
/// into a staging directory with its size at that moment. The applier then goes on; bytes it
/// appends later lie past the recorded sizes, and a replaced partition version stays alive
/// through its link. The receiver's `TableStore` rolls every file back to the checkpointed row
/// counts in `_txn`, exactly as after a crash.
package struct TableFilesSnapshot: Sendable {
    package struct File: Sendable, Equatable {
        /// Path under `db/`, `/`-separated.
        package var path: String
        package var size: UInt64
        /// The bytes, for `_meta` and `_txn`; `nil`: read `size` bytes from the staged link.
        package var inline: [UInt8]?
    }

    /// Every table is checkpointed at this txn; the WAL continues after it.
    package var txn: UInt64
    package var files: [File]
    /// The fork points of the history the snapshot belongs to.
    package var history: EpochHistory
    /// Where the hard links are; `remove()` when the transfer ended.
    package var staging: String

    package var totalBytes: UInt64 { files.reduce(0) { $0 + $1.size } }

    /// The staged file behind `file` (for files not held inline).
    package func stagedPath(of file: File) -> String { staging + "/" + file.path }

    package func remove() {
        ColumnFiles.removeTree(staging)
    }
}

/// Rules for paths that arrive over the network: relative, `/`-separated, at most 4 levels of
/// plain names — never `..`, never absolute, never a NUL.
package enum SnapshotPath {
    package static let maxBytes = 512

    package static func isSafe(_ path: String) -> Bool {
        guard !path.isEmpty, path.utf8.count <= maxBytes, !path.hasPrefix("/") else { return false }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 4 else { return false }
        return parts.allSatisfy { part in
            !part.isEmpty && part != "." && part != ".." && !part.utf8.contains(0) && part.utf8.count <= 255
        }
    }
}

extension StorageEngine {
    /// Takes a snapshot of every table (see `TableFilesSnapshot`); fails while any table is
    /// damaged or suspended (its files would not be consistent).
    package func exportSnapshot() throws(StorageError) -> TableFilesSnapshot {
        let staging = snapshotStagingDirectory + "/\(UInt64.random(in: 1...UInt64.max))"
        let history = epochHistory
        return try withCheckpointedApplier { (stores, txn) throws(StorageError) -> TableFilesSnapshot in
            ColumnFiles.removeTree(staging)
            try DurableFile.createDirectory(snapshotStagingDirectory, io: .system)
            try DurableFile.createDirectory(staging, io: .system)
            var files: [TableFilesSnapshot.File] = []
            do throws(StorageError) {
                for store in stores {
                    let table = String(store.directory.split(separator: "/").last ?? "")
                    try Self.stage(directory: store.directory, relative: table, staging: staging, into: &files)
                }
            } catch {
                ColumnFiles.removeTree(staging)
                throw error
            }
            return TableFilesSnapshot(txn: txn, files: files, history: history, staging: staging)
        }
    }

    private static func stage(
        directory: String, relative: String, staging: String, into files: inout [TableFilesSnapshot.File]
    ) throws(StorageError) {
        try DurableFile.createDirectory(staging + "/" + relative, io: .system)
        for name in try ColumnFiles.entries(of: directory).sorted() {
            let source = directory + "/" + name
            let path = relative + "/" + name
            var info = stat()
            guard lstat(source, &info) == 0 else { throw StorageError(.io, path: source, "cannot stat", errno: errno) }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                try stage(directory: source, relative: path, staging: staging, into: &files)
            } else if name == "_meta" || name == "_txn" {
                guard let bytes = try DurableFile.read(source, maxBytes: 64 << 20) else {
                    throw StorageError(.io, path: source, "vanished while taking a snapshot")
                }
                files.append(.init(path: path, size: UInt64(bytes.count), inline: bytes))
            } else {
                guard link(source, staging + "/" + path) == 0 else {
                    throw StorageError(.io, path: source, "cannot link into the snapshot", errno: errno)
                }
                files.append(.init(path: path, size: UInt64(info.st_size), inline: nil))
            }
        }
    }
}

/// Receives a snapshot into `db.incoming/`, file by file with CRC32C, then installs it as the
/// node's `db/` (which must hold no table), with the sender's fork history and the txn the WAL
/// continues after. Runs before the storage engine opens.
package struct SnapshotImport {
    package let layout: DataDirectory
    private var incoming: String { layout.root + "/db.incoming" }
    private var fd: Int32 = -1
    private var path = ""
    private var expected: UInt64 = 0
    private var written: UInt64 = 0
    private var crc = CRC32C()
    package private(set) var bytes: UInt64 = 0
    package private(set) var files = 0

    package init(layout: DataDirectory) throws(StorageError) {
        self.layout = layout
        ColumnFiles.removeTree(layout.root + "/db.incoming")
        try DurableFile.createDirectory(layout.root + "/db.incoming", io: .system)
    }

    /// Whether the node holds nothing a snapshot would replace: no table and no WAL segment.
    package static func isEmpty(_ layout: DataDirectory) throws(StorageError) -> Bool {
        let tables = try ColumnFiles.entries(of: layout.tablesDirectory)
        // Spares (purged segments kept for reuse) hold nothing.
        let segments = try ColumnFiles.entries(of: layout.walDirectory).filter { !$0.hasSuffix(WALSegmentFiles.spareSuffix) }
        let base = try SnapshotBase.load(layout)
        return tables.isEmpty && segments.isEmpty && base == nil
    }

    package mutating func beginFile(_ relative: String, size: UInt64) throws(StorageError) {
        guard fd < 0 else { throw StorageError(.corrupt, path: relative, "snapshot file started inside another") }
        guard SnapshotPath.isSafe(relative) else { throw StorageError(.corrupt, path: relative, "unsafe path in snapshot") }
        let full = incoming + "/" + relative
        var directory = incoming
        for part in relative.split(separator: "/").dropLast() {
            directory += "/" + part
            try DurableFile.createDirectory(directory, io: .system)
        }
        fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError(.io, path: full, "cannot create snapshot file", errno: errno) }
        path = full
        expected = size
        written = 0
        crc = CRC32C()
    }

    package mutating func write(_ data: [UInt8]) throws(StorageError) {
        guard fd >= 0 else { throw StorageError(.corrupt, path: "snapshot", "data outside a file") }
        guard written + UInt64(data.count) <= expected else {
            throw StorageError(.corrupt, path: path, "more bytes than the declared \(expected)")
        }
        let done = data.withUnsafeBytes { raw -> Int in
            var offset = 0
            while offset < raw.count {
                let count = pwrite(fd, raw.baseAddress! + offset, raw.count - offset, off_t(written) + off_t(offset))
                if count <= 0 { return -1 }
                offset += count
            }
            return offset
        }
        guard done == data.count else { throw StorageError(.io, path: path, "cannot write snapshot file", errno: errno) }
        crc.update(data)
        written += UInt64(data.count)
        bytes += UInt64(data.count)
    }

    package mutating func endFile(crc stored: UInt32) throws(StorageError) {
        defer {
            if fd >= 0 { close(fd) }
            fd = -1
        }
        guard written == expected else { throw StorageError(.corrupt, path: path, "got \(written) of \(expected) bytes") }
        guard crc.value == stored else { throw StorageError(.corrupt, path: path, "checksum mismatch: the snapshot file is damaged") }
        guard fdatasync(fd) == 0 else { throw StorageError(.io, path: path, "cannot sync snapshot file", errno: errno) }
        files += 1
    }

    /// Installs the received tables as `db/`, records the history and where the WAL continues.
    package func install(txn: UInt64, history: EpochHistory) throws(StorageError) {
        guard try ColumnFiles.entries(of: layout.tablesDirectory).isEmpty else {
            throw StorageError(.notWritable, path: layout.tablesDirectory, "holds tables: a snapshot is installed only into an empty node")
        }
        for table in try ColumnFiles.entries(of: incoming) {
            try DurableFile.syncDirectory(containing: incoming + "/" + table + "/_meta", io: .system)
        }
        try DurableFile.syncDirectory(containing: incoming + "/x", io: .system)
        try history.save(layout, io: .system)
        try SnapshotBase(txn: txn).save(layout)
        guard rmdir(layout.tablesDirectory) == 0, rename(incoming, layout.tablesDirectory) == 0 else {
            throw StorageError(.io, path: layout.tablesDirectory, "cannot install the snapshot", errno: errno)
        }
        try DurableFile.syncDirectory(containing: layout.tablesDirectory, io: .system)
    }
}

/// `node/snapshot-base`: the txn a snapshot was installed at, so an empty WAL continues after it
/// even when the snapshot held no table.
package struct SnapshotBase: Sendable, Equatable {
    package static let magic = "sundial-snapshot-base"
    package var txn: UInt64

    package init(txn: UInt64) { self.txn = txn }

    package static func path(_ layout: DataDirectory) -> String { layout.nodeDirectory + "/snapshot-base" }

    package func save(_ layout: DataDirectory) throws(StorageError) {
        try DurableFile.replace(Self.path(layout), with: ChecksummedText.seal(magic: Self.magic, version: 1, lines: ["txn \(txn)"]), io: .system)
    }

    package static func load(_ layout: DataDirectory) throws(StorageError) -> SnapshotBase? {
        guard let bytes = try DurableFile.read(path(layout), maxBytes: 4096) else { return nil }
        let lines = try ChecksummedText.open(bytes, magic: magic, version: 1, what: "snapshot base", path: path(layout))
        guard lines.count == 1, lines[0].hasPrefix("txn "), let txn = UInt64(lines[0].dropFirst(4)) else {
            throw StorageError(.corrupt, path: path(layout), "malformed snapshot base")
        }
        return SnapshotBase(txn: txn)
    }
}

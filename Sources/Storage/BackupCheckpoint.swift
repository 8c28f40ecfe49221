#if canImport(Glibc)
import Glibc
#endif

/// QuestDB's `CHECKPOINT CREATE` / `CHECKPOINT RELEASE` and the restore from a copy taken
/// meanwhile (decision 0019).
///
/// CREATE takes the same consistent image a replica bootstraps from (`exportSnapshot`: every
/// table checkpointed at one txn, `_meta`/`_txn` copied, every other file hard-linked) and
/// keeps it as `checkpoint/db/` with `checkpoint/manifest` (the txn, versioned and checksummed).
/// Column files are only ever appended to or replaced by new versions, so the links keep
/// exactly the checkpointed bytes reachable while the node goes on writing; the copied `_txn`
/// files say how many rows count. Any tool may then copy the data directory. RELEASE removes
/// the image (the links, so replaced versions are freed).
///
/// A copy restores when started with an empty `_restore` file in its root: `db/` becomes the
/// image, the WAL (copied live, possibly torn between segments) is dropped, and the node goes
/// on after the checkpoint's txn — the same install a snapshot bootstrap does.
package enum BackupCheckpoint {
    static let magic = "sundial-checkpoint"

    package static func directory(_ layout: DataDirectory) -> String { layout.root + "/checkpoint" }
    package static func restoreMarker(_ layout: DataDirectory) -> String { layout.root + "/_restore" }

    /// The txn of the checkpoint held in `layout`, nil when there is none.
    package static func txn(_ layout: DataDirectory) throws(StorageError) -> UInt64? {
        let path = directory(layout) + "/manifest"
        guard let bytes = try DurableFile.read(path, maxBytes: 4096) else { return nil }
        let lines = try ChecksummedText.open(bytes, magic: magic, version: 1, what: "checkpoint manifest", path: path)
        guard lines.count == 1, lines[0].hasPrefix("txn "), let txn = UInt64(lines[0].dropFirst(4)) else {
            throw StorageError(.corrupt, path: path, "malformed checkpoint manifest")
        }
        return txn
    }

    /// Restores `db/` from the checkpoint when `_restore` is present (before the engine opens).
    /// Returns the txn restored to, nil when no restore was asked for.
    package static func restoreIfRequested(_ layout: DataDirectory) throws(StorageError) -> UInt64? {
        var isDirectory = false
        guard DurableFile.exists(restoreMarker(layout), isDirectory: &isDirectory) else { return nil }
        guard let txn = try txn(layout) else {
            throw StorageError(
                .notWritable, path: restoreMarker(layout),
                "_restore is present but the data directory holds no checkpoint (copy it while CHECKPOINT CREATE is in effect)")
        }
        let image = directory(layout) + "/db"
        let replaced = layout.root + "/db.replaced"
        ColumnFiles.removeTree(replaced)
        if DurableFile.exists(layout.tablesDirectory, isDirectory: &isDirectory) {
            guard rename(layout.tablesDirectory, replaced) == 0 else {
                throw StorageError(.io, path: layout.tablesDirectory, "cannot set the copied tables aside", errno: errno)
            }
        }
        guard rename(image, layout.tablesDirectory) == 0 else {
            throw StorageError(.io, path: image, "cannot install the checkpoint's tables", errno: errno)
        }
        try DurableFile.syncDirectory(containing: layout.tablesDirectory, io: .system)
        // The WAL was copied while it grew: segments may be torn anywhere. The restore ends at
        // the checkpoint, and the WAL starts over after it.
        for segment in try ColumnFiles.entries(of: layout.walDirectory) {
            ColumnFiles.removeTree(layout.walDirectory + "/" + segment)
        }
        try DurableFile.syncDirectory(containing: layout.walDirectory + "/x", io: .system)
        try SnapshotBase(txn: txn).save(layout)
        ColumnFiles.removeTree(replaced)
        ColumnFiles.removeTree(directory(layout))
        guard unlink(restoreMarker(layout)) == 0 else {
            throw StorageError(.io, path: restoreMarker(layout), "cannot remove the restore marker", errno: errno)
        }
        try DurableFile.syncDirectory(containing: restoreMarker(layout), io: .system)
        return txn
    }
}

extension StorageEngine {
    /// `CHECKPOINT CREATE`: returns the checkpoint's txn. Fails when one exists already, or
    /// while a table is damaged or suspended (its files would not be consistent).
    package func createCheckpoint() throws(StorageError) -> UInt64 {
        guard try BackupCheckpoint.txn(layout) == nil else {
            throw StorageError(.notWritable, path: "checkpoint", "a checkpoint is already in effect; run CHECKPOINT RELEASE first")
        }
        let snapshot = try exportSnapshot()
        defer { snapshot.remove() }
        let building = layout.root + "/checkpoint.tmp"
        ColumnFiles.removeTree(building)
        ColumnFiles.removeTree(BackupCheckpoint.directory(layout))
        try DurableFile.createDirectory(building, io: .system)
        for file in snapshot.files {
            guard let bytes = file.inline else { continue }
            try DurableFile.replace(snapshot.stagedPath(of: file), with: bytes, io: .system)
        }
        guard rename(snapshot.staging, building + "/db") == 0 else {
            throw StorageError(.io, path: snapshot.staging, "cannot keep the checkpoint's files", errno: errno)
        }
        try DurableFile.replace(
            building + "/manifest", with: ChecksummedText.seal(magic: BackupCheckpoint.magic, version: 1, lines: ["txn \(snapshot.txn)"]),
            io: .system)
        guard rename(building, BackupCheckpoint.directory(layout)) == 0 else {
            throw StorageError(.io, path: building, "cannot publish the checkpoint", errno: errno)
        }
        try DurableFile.syncDirectory(containing: BackupCheckpoint.directory(layout), io: .system)
        return snapshot.txn
    }

    /// `CHECKPOINT RELEASE`: drops the checkpoint; false when there was none.
    @discardableResult
    package func releaseCheckpoint() throws(StorageError) -> Bool {
        guard try BackupCheckpoint.txn(layout) != nil else { return false }
        ColumnFiles.removeTree(BackupCheckpoint.directory(layout))
        try DurableFile.syncDirectory(containing: BackupCheckpoint.directory(layout), io: .system)
        return true
    }
}

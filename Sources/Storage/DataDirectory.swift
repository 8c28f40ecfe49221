/// The layout of a node's data directory (DESIGN §3) and the act of opening it.
///
/// ```
/// conf/server.conf   optional configuration
/// node/identity      NodeIdentity (checksummed, atomically replaced)
/// node/epochs        EpochHistory: fork points (checksummed, atomically replaced)
/// node/lock          held by the running process
/// wal/               WAL segments
/// db/                tables
/// snapshot-staging/  hard links of a snapshot being sent (removed at start and after sending)
/// db.incoming/       a snapshot being received (installed as db/ when complete)
/// before-resync-N/   what `sundial rejoin --resync` moved aside (never deleted by Sundial)
/// ```
package struct DataDirectory: Sendable {
    package let root: String

    package init(root: String) {
        var trimmed = root
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.root = trimmed
    }

    package var configurationDirectory: String { root + "/conf" }
    package var nodeDirectory: String { root + "/node" }
    package var walDirectory: String { root + "/wal" }
    package var tablesDirectory: String { root + "/db" }
    package var identityPath: String { nodeDirectory + "/identity" }
    /// `EpochHistory`: the fork points of this node's WAL.
    package var epochsPath: String { nodeDirectory + "/epochs" }
    package var lockPath: String { nodeDirectory + "/lock" }
    /// Where `server.conf` is looked for when no `--config` is given.
    package var defaultConfigurationPath: String { configurationDirectory + "/server.conf" }

    /// Creates the layout, takes the lock and loads the identity, creating it on first start.
    ///
    /// `role` is recorded only when the identity is created; later starts keep the stored one.
    package func open(initialRole role: NodeRole) throws(StorageError) -> OpenDataDirectory {
        for directory in [root, configurationDirectory, nodeDirectory, walDirectory, tablesDirectory] {
            try DurableFile.createDirectory(directory, io: .system)
        }
        let lock = try DataDirectoryLock(path: lockPath)
        if let bytes = try DurableFile.read(identityPath, maxBytes: NodeIdentity.maxFileBytes) {
            let identity = try NodeIdentity.decode(bytes, path: identityPath)
            return OpenDataDirectory(layout: self, lock: lock, identity: identity, identityCreated: false)
        }
        let identity = NodeIdentity.generate(role: role)
        try DurableFile.replace(identityPath, with: identity.encoded(), io: .system)
        return OpenDataDirectory(layout: self, lock: lock, identity: identity, identityCreated: true)
    }
}

/// A data directory this process owns: the lock is held as long as this value lives.
package struct OpenDataDirectory: Sendable {
    package let layout: DataDirectory
    package let lock: DataDirectoryLock
    package let identity: NodeIdentity
    /// True on the first start of this directory.
    package let identityCreated: Bool

    /// Records `updated` in `node/identity` when it differs from the stored one (the start
    /// role replication decided, see `StartRole`).
    package func recording(_ updated: NodeIdentity) throws(StorageError) -> OpenDataDirectory {
        guard identity != updated else { return self }
        try DurableFile.replace(layout.identityPath, with: updated.encoded(), io: .system)
        return OpenDataDirectory(layout: layout, lock: lock, identity: updated, identityCreated: identityCreated)
    }

    /// `sundial rejoin --resync`: moves the tables, the WAL and the node's replication state
    /// (fork history, slots, snapshot base) into `before-resync-SECONDS/` — never deleted — so
    /// the node starts empty and receives a snapshot. Returns the directory they went to.
    package func moveAsideForResync(now seconds: Int) throws(StorageError) -> String {
        let aside = layout.root + "/before-resync-\(seconds)"
        try DurableFile.createDirectory(aside, io: .system)
        try DurableFile.createDirectory(aside + "/node", io: .system)
        let moves = [
            (layout.tablesDirectory, aside + "/db"), (layout.walDirectory, aside + "/wal"),
            (layout.epochsPath, aside + "/node/epochs"), (layout.nodeDirectory + "/replication-slots", aside + "/node/replication-slots"),
            (layout.nodeDirectory + "/snapshot-base", aside + "/node/snapshot-base"),
        ]
        for (from, to) in moves where access(from, F_OK) == 0 {
            guard rename(from, to) == 0 else { throw StorageError(.io, path: from, "cannot move aside for a resync", errno: errno) }
        }
        try DurableFile.createDirectory(layout.tablesDirectory, io: .system)
        try DurableFile.createDirectory(layout.walDirectory, io: .system)
        try DurableFile.syncDirectory(containing: layout.nodeDirectory + "/identity", io: .system)
        try DurableFile.syncDirectory(containing: aside + "/db", io: .system)
        try DurableFile.syncDirectory(containing: layout.tablesDirectory, io: .system)
        return aside
    }
}

#if canImport(Glibc)
import Glibc
#endif

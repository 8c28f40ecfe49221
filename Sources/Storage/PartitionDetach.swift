#if canImport(Glibc)
import Glibc
#endif

/// QuestDB's `ALTER TABLE … DETACH PARTITION` and `ATTACH PARTITION` (decision 0022).
///
/// DETACH takes a partition out of the table into `<name>.detached/` beside it: every part's
/// column files hard-linked (no copy; files are never changed in place once a part is no
/// longer the table's last), the table's `_meta`, and a checksummed manifest naming the table,
/// the parts and the rows. The operator may archive that directory, and ATTACH takes it back
/// when it is in the table's directory as `<name>.attachable`.
///
/// Both are WAL records, so every node does the same: a replica detaches its own copy, and
/// attaches from `<name>.attachable` if the operator put one there, else from the copy its own
/// DETACH kept. The ATTACH record carries the partition's row count and a digest of its
/// designated timestamps: a node whose copy is not the partition the primary attached refuses
/// it (the table is suspended, saying what is missing) instead of diverging.
package enum DetachedPartition {
    static let magic = "sundial-detached-partition"
    static let manifestName = "_detached"
    package static let detachedSuffix = ".detached"
    package static let attachableSuffix = ".attachable"

    /// What a detached partition holds, from its manifest.
    package struct Manifest: Sendable, Equatable {
        package var tableID: UInt32
        package var timestamp: Int64
        package var parts: [PartitionState]
        package var rowCount: UInt64 { parts.reduce(0) { $0 + $1.rowCount } }

        var sealed: [UInt8] {
            var lines = ["table \(tableID)", "partition \(timestamp)"]
            for part in parts { lines.append("part \(part.rowCount) \(part.version) \(part.splitAt)") }
            return ChecksummedText.seal(magic: DetachedPartition.magic, version: 1, lines: lines)
        }

        static func open(_ directory: String) throws(StorageError) -> Manifest {
            let path = directory + "/" + DetachedPartition.manifestName
            guard let bytes = try DurableFile.read(path, maxBytes: 1 << 20) else {
                throw StorageError(.notWritable, path: directory, "not a detached partition: \(DetachedPartition.manifestName) is missing")
            }
            let lines = try ChecksummedText.open(bytes, magic: DetachedPartition.magic, version: 1, what: "detached partition manifest", path: path)
            func malformed() -> StorageError { StorageError(.corrupt, path: path, "malformed detached partition manifest") }
            guard lines.count >= 2, lines[0].hasPrefix("table "), let table = UInt32(lines[0].dropFirst(6)),
                  lines[1].hasPrefix("partition "), let timestamp = Int64(lines[1].dropFirst(10))
            else { throw malformed() }
            var parts: [PartitionState] = []
            for line in lines.dropFirst(2) {
                let fields = line.split(separator: " ")
                guard fields.count == 4, fields[0] == "part", let rows = UInt64(fields[1]), let version = UInt32(fields[2]),
                      let splitAt = Int64(fields[3])
                else { throw malformed() }
                parts.append(PartitionState(timestamp: timestamp, rowCount: rows, version: version, splitAt: splitAt))
            }
            return Manifest(tableID: table, timestamp: timestamp, parts: parts)
        }
    }

    /// What an ATTACH record carries per partition: enough for every node to check that its
    /// copy is the one the primary attached.
    package struct Identity: Sendable, Equatable {
        package var timestamp: Int64
        package var rowCount: UInt64
        /// CRC-32C of the designated timestamps, part after part (independent of how a node
        /// happened to split the partition into parts).
        package var digest: UInt32

        package init(timestamp: Int64, rowCount: UInt64, digest: UInt32) {
            self.timestamp = timestamp
            self.rowCount = rowCount
            self.digest = digest
        }
    }

    /// Reads and checks the detached partition in `directory` against the table `schema`:
    /// same table, partitioning and designated timestamp, readable parts. Returns its
    /// manifest, its schema and its identity.
    static func inspect(_ directory: String, for schema: TableSchema) throws(StorageError) -> (Manifest, TableSchema, Identity) {
        let manifest = try Manifest.open(directory)
        guard manifest.tableID == schema.tableID else {
            throw StorageError(
                .notWritable, path: directory,
                "the partition was detached from another table (id \(manifest.tableID), this one is \(schema.tableID))")
        }
        guard let meta = try DurableFile.read(directory + "/_meta", maxBytes: TableMetaCodec.maxFileBytes) else {
            throw StorageError(.corrupt, path: directory, "detached partition has no _meta")
        }
        let detachedSchema = try TableMetaCodec.decode(meta, path: directory + "/_meta")
        guard detachedSchema.partitionBy == schema.partitionBy, detachedSchema.designatedTimestamp == schema.designatedTimestamp,
              let designated = schema.designatedTimestamp
        else {
            throw StorageError(.notWritable, path: directory, "the partition's partitioning or designated timestamp differs from the table's")
        }
        var crc = CRC32C()
        for part in manifest.parts where part.rowCount > 0 {
            let path = "\(directory)/\(ColumnFiles.partitionDirectoryName(part, by: schema.partitionBy))/\(ColumnFiles.dataFileName(columnID: designated))"
            let length = Int(part.rowCount) * 8
            guard let size = ColumnFiles.size(path), size >= length else {
                throw StorageError(.corrupt, path: path, "detached partition holds fewer than its \(part.rowCount) rows")
            }
            let mapped = try MappedColumn(path: path, length: length)
            mapped.withUnsafeBytes { crc.update($0) }
        }
        return (manifest, detachedSchema, Identity(timestamp: manifest.timestamp, rowCount: manifest.rowCount, digest: crc.value))
    }

    /// Hard-links `source` to `target`, copying where a link cannot be made (another volume:
    /// QuestDB lets `.attachable` be a symbolic link to cold storage).
    static func link(_ source: String, _ target: String, io: StorageIO) throws(StorageError) {
        if Glibc.link(source, target) == 0 { return }
        guard errno == EXDEV || errno == EPERM || errno == EMLINK else {
            throw StorageError(.io, path: source, "cannot link into \(target)", errno: errno)
        }
        guard let bytes = try DurableFile.read(source, maxBytes: .max) else {
            throw StorageError(.io, path: source, "cannot read for copying")
        }
        try DurableFile.replace(target, with: bytes, io: io)
    }

    /// Links the files of `columns` of one part from `source` into a new `target` directory.
    static func linkPart(from source: String, to target: String, columns: [ColumnSchema], io: StorageIO) throws(StorageError) {
        if io.mkdir(target, 0o755) != 0 { throw StorageError(.io, path: target, "cannot create partition directory", errno: errno) }
        for column in columns {
            try link(source + "/" + ColumnFiles.dataFileName(columnID: column.id), target + "/" + ColumnFiles.dataFileName(columnID: column.id), io: io)
            if column.type.isVariableSize {
                try link(
                    source + "/" + ColumnFiles.offsetFileName(columnID: column.id),
                    target + "/" + ColumnFiles.offsetFileName(columnID: column.id), io: io)
            }
        }
        try DurableFile.syncDirectory(containing: target + "/x", io: io)
    }
}

extension SchemaChange {
    static func encodeIdentities(_ identities: [DetachedPartition.Identity], into bytes: inout [UInt8]) {
        bytes.appendLittleEndian(UInt32(identities.count))
        for identity in identities {
            bytes.appendLittleEndian(identity.timestamp)
            bytes.appendLittleEndian(identity.rowCount)
            bytes.appendLittleEndian(identity.digest)
        }
    }

    static func decodeIdentities(_ reader: inout BinaryReader) throws -> [DetachedPartition.Identity] {
        let count = Int(try reader.read(UInt32.self))
        guard count * 20 == reader.remaining else { throw StorageError(.corrupt, path: "wal", "attach record is malformed") }
        var identities: [DetachedPartition.Identity] = []
        for _ in 0..<count {
            identities.append(DetachedPartition.Identity(
                timestamp: try reader.read(Int64.self), rowCount: try reader.read(UInt64.self), digest: try reader.read(UInt32.self)))
        }
        return identities
    }
}

extension TableStore {
    /// Path of the detached (or attachable) directory of the partition starting at `timestamp`.
    func detachedDirectory(_ timestamp: Int64, suffix: String) -> String {
        directory + "/" + PartitionTime.name(of: timestamp, by: schema.partitionBy) + suffix
    }

    /// Applies DETACH (WAL `txn`): each partition's parts are linked into `<name>.detached/`
    /// (built as `.detached.tmp`, renamed when complete), then leave the table as dropped
    /// partitions do. A crash before the checkpoint replays it, replacing the half-made copy.
    package func detachPartitions(_ timestamps: [Int64], txn: UInt64) throws(StorageError) {
        guard txn > state.appliedTxn else { return }
        try checkpoint()
        let doomed = Set(timestamps)
        for timestamp in doomed.sorted() {
            let parts = state.partitions.filter { $0.timestamp == timestamp }
            guard !parts.isEmpty else { continue }
            let target = detachedDirectory(timestamp, suffix: DetachedPartition.detachedSuffix)
            let building = target + ".tmp"
            ColumnFiles.removeTree(building, io: io)
            if io.mkdir(building, 0o755) != 0 { throw StorageError(.io, path: building, "cannot create detached partition", errno: errno) }
            for part in parts {
                let name = ColumnFiles.partitionDirectoryName(part, by: schema.partitionBy)
                try DetachedPartition.linkPart(from: directory + "/" + name, to: building + "/" + name, columns: schema.columns, io: io)
            }
            try DurableFile.replace(building + "/_meta", with: TableMetaCodec.encode(schema), io: io)
            let manifest = DetachedPartition.Manifest(tableID: schema.tableID, timestamp: timestamp, parts: parts)
            try DurableFile.replace(building + "/" + DetachedPartition.manifestName, with: manifest.sealed, io: io)
            // A copy left by an earlier DETACH of the same period gives way to this one.
            ColumnFiles.removeTree(target, io: io)
            if io.rename(building, target) != 0 { throw StorageError(.io, path: building, "cannot publish detached partition", errno: errno) }
            try DurableFile.syncDirectory(containing: target, io: io)
        }
        try removePartitions(doomed, txn: txn)
    }

    /// The directory a node attaches the partition of `identity` from: `<name>.attachable`
    /// when the operator put one there, else the copy this node's own DETACH kept.
    func attachSource(_ timestamp: Int64) -> String? {
        var isDirectory = false
        for suffix in [DetachedPartition.attachableSuffix, DetachedPartition.detachedSuffix] {
            let path = detachedDirectory(timestamp, suffix: suffix)
            if DurableFile.exists(path, isDirectory: &isDirectory), isDirectory { return path }
        }
        return nil
    }

    /// Applies ATTACH (WAL `txn`): each partition's parts are linked back into the table under
    /// free versions, columns added since the detach read NULL, and once checkpointed the
    /// source directory is removed. Nothing is removed before the checkpoint, so a crash
    /// replays the attach from the same source.
    package func attachPartitions(_ identities: [DetachedPartition.Identity], txn: UInt64) throws(StorageError) {
        guard txn > state.appliedTxn else { return }
        try checkpoint()
        var sources: [String] = []
        for identity in identities {
            let name = PartitionTime.name(of: identity.timestamp, by: schema.partitionBy)
            guard !state.partitions.contains(where: { $0.timestamp == identity.timestamp }) else {
                throw StorageError(.notWritable, path: directory, "cannot attach partition \(name): the table has rows in that partition")
            }
            guard let source = attachSource(identity.timestamp) else {
                throw StorageError(
                    .notWritable, path: directory,
                    "cannot attach partition \(name): neither \(name)\(DetachedPartition.attachableSuffix) nor \(name)\(DetachedPartition.detachedSuffix) is in the table's directory; put the detached copy there as \(name)\(DetachedPartition.attachableSuffix) and RESUME WAL")
            }
            let (manifest, detachedSchema, found) = try DetachedPartition.inspect(source, for: schema)
            guard found == identity else {
                throw StorageError(
                    .notWritable, path: source,
                    "cannot attach partition \(name): this copy (\(found.rowCount) rows, digest \(found.digest)) is not the one attached on the primary (\(identity.rowCount) rows, digest \(identity.digest))")
            }
            let kept = schema.columns.filter { detachedSchema.column(id: $0.id) != nil }
            let added = schema.columns.filter { detachedSchema.column(id: $0.id) == nil }
            for part in manifest.parts {
                var attached = part
                attached.version = freeVersion(for: part, atLeast: part.version)
                let target = ColumnFiles.partitionDirectoryName(attached, by: schema.partitionBy)
                ColumnFiles.removeTree(directory + "/" + target, io: io)
                try DetachedPartition.linkPart(
                    from: source + "/" + ColumnFiles.partitionDirectoryName(part, by: schema.partitionBy), to: directory + "/" + target,
                    columns: kept, io: io)
                for column in added { try materializeNulls(column, partition: target, rows: Int(part.rowCount)) }
                let index = state.partitions.firstIndex { ($0.timestamp, $0.splitAt) > (attached.timestamp, attached.splitAt) }
                state.partitions.insert(attached, at: index ?? state.partitions.count)
            }
            sources.append(source)
        }
        createdPartitionDirectories = true
        closeOpenFiles()
        try recomputeTimestampRange()
        state.appliedTxn = txn
        try checkpoint()
        for source in sources {
            ColumnFiles.removeTree(source, io: io)
        }
        if !sources.isEmpty { try DurableFile.syncDirectory(containing: sources[0], io: io) }
    }
}

import Storage

/// The primary's memory of its replicas, like PostgreSQL's replication slots: each replica's
/// durable txn. The WAL after the lowest one is kept (up to `replication.max.retained.bytes`),
/// so a replica that was down resumes where it stopped. Persisted in `node/replication-slots`
/// as short text with a format line and a CRC32C, atomically replaced.
package struct ReplicationSlots: Sendable, Equatable {
    package static let magic = "sundial-replication-slots"
    package static let formatVersion = 1
    package static let maxFileBytes = 1 << 20
    /// More replicas than this is a misconfiguration, not a cluster.
    package static let maxSlots = 64

    /// Replica node id → durable txn.
    package var durable: [String: UInt64] = [:]

    package init(durable: [String: UInt64] = [:]) {
        self.durable = durable
    }

    /// Creates the slot on a replica's first contact; an existing slot keeps its position.
    mutating func ensure(_ nodeID: String, durableTxn: UInt64) {
        if durable[nodeID] == nil, durable.count < Self.maxSlots { durable[nodeID] = durableTxn }
    }

    /// Moves a slot forward (never back); true when it moved.
    mutating func advance(_ nodeID: String, durableTxn: UInt64) -> Bool {
        guard let current = durable[nodeID], durableTxn > current else { return false }
        durable[nodeID] = durableTxn
        return true
    }

    package func encoded() -> [UInt8] {
        ChecksummedText.seal(
            magic: Self.magic, version: Self.formatVersion, lines: durable.sorted(by: { $0.key < $1.key }).map { "slot \($0.key) \($0.value)" })
    }

    package static func decode(_ bytes: [UInt8], path: String) throws(StorageError) -> ReplicationSlots {
        let lines = try ChecksummedText.open(bytes, magic: magic, version: formatVersion, what: "replication slots", path: path)
        var slots = ReplicationSlots()
        for line in lines {
            let fields = line.split(separator: " ")
            guard fields.count == 3, fields[0] == "slot", let txn = UInt64(fields[2]) else {
                throw StorageError(.corrupt, path: path, "malformed line in replication slots: \(line)")
            }
            slots.durable[String(fields[1])] = txn
        }
        return slots
    }

    /// Loads the slots of a data directory (none when the file does not exist).
    package static func load(_ layout: DataDirectory) throws(StorageError) -> ReplicationSlots {
        let path = layout.nodeDirectory + "/replication-slots"
        guard let bytes = try DurableFile.read(path, maxBytes: maxFileBytes) else { return ReplicationSlots() }
        return try decode(bytes, path: path)
    }

    package func save(_ layout: DataDirectory) throws(StorageError) {
        try DurableFile.replace(layout.nodeDirectory + "/replication-slots", with: encoded(), io: .system)
    }
}

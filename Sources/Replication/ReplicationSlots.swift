import Storage

/// The primary's memory of its replicas, like PostgreSQL's replication slots: each replica's
/// durable txn. The WAL after the lowest one is kept (up to `replication.max.retained.bytes`),
/// so a replica that was down resumes where it stopped. Persisted in `node/replication-slots`
/// as short text with a format line and a CRC32C, atomically replaced.
package struct ReplicationSlots: Sendable, Equatable {
    package static let magic = "sundial-replication-slots"
    /// Format 2 added the certificate name each slot is bound to; format 1 files still open.
    package static let formatVersion = 2
    package static let maxFileBytes = 1 << 20
    /// More replicas than this is a misconfiguration, not a cluster.
    package static let maxSlots = 64

    /// Replica node id → durable txn.
    package var durable: [String: UInt64] = [:]
    /// Replica node id → the common name of the certificate that created the slot: only that
    /// member may claim the node id (RELIABILITY §4.6; decision 0014).
    package var names: [String: String] = [:]

    package init(durable: [String: UInt64] = [:], names: [String: String] = [:]) {
        self.durable = durable
        self.names = names
    }

    /// Binds node id `nodeID` to the certificate name `name` (first come; a slot made before
    /// names were recorded takes the first name that claims it). Returns the name it is bound
    /// to when that is another one — the claim is then refused.
    package mutating func claim(_ nodeID: String, name: String) -> String? {
        if let owner = names[nodeID], owner != name { return owner }
        names[nodeID] = name
        return nil
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

    /// `slot <node id> <durable txn> [<certificate name, Base64>]` per slot (names may hold spaces).
    package func encoded() -> [UInt8] {
        ChecksummedText.seal(
            magic: Self.magic, version: Self.formatVersion,
            lines: durable.sorted(by: { $0.key < $1.key }).map { id, txn in
                "slot \(id) \(txn)" + (names[id].map { " " + Base64.encode(Array($0.utf8)) } ?? "")
            })
    }

    package static func decode(_ bytes: [UInt8], path: String) throws(StorageError) -> ReplicationSlots {
        let what = "replication slots"
        let lines: [Substring]
        do {
            lines = try ChecksummedText.open(bytes, magic: magic, version: formatVersion, what: what, path: path)
        } catch where error.code == .unsupportedVersion {
            lines = try ChecksummedText.open(bytes, magic: magic, version: 1, what: what, path: path)
        }
        var slots = ReplicationSlots()
        for line in lines {
            let fields = line.split(separator: " ")
            guard fields.count == 3 || fields.count == 4, fields[0] == "slot", let txn = UInt64(fields[2]) else {
                throw StorageError(.corrupt, path: path, "malformed line in replication slots: \(line)")
            }
            slots.durable[String(fields[1])] = txn
            if fields.count == 4 {
                guard let name = Base64.decode(fields[3]) else {
                    throw StorageError(.corrupt, path: path, "malformed certificate name in replication slots: \(line)")
                }
                slots.names[String(fields[1])] = String(decoding: name, as: UTF8.self)
            }
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

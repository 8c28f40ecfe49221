/// The epochs this node's WAL went through, as fork points: epoch `e` began at txn `firstTxn`
/// (DESIGN §5). Epoch 0 begins at txn 1 and is implicit. A promotion appends the new epoch at
/// the txn it will write next; a replica appends the fork points it receives from its primary,
/// so any member can later tell whether another's history is a prefix of its own: a node whose
/// last record has epoch `e` may follow this one only if its last txn is before the first fork
/// point with an epoch above `e`.
///
/// Persisted in `node/epochs` as short text (format line, one `epoch E from txn T` per line,
/// CRC32C line), atomically replaced, written before the first record of the new epoch.
package struct EpochHistory: Sendable, Equatable {
    package static let magic = "sundial-epochs"
    package static let formatVersion = 1
    package static let maxFileBytes = 1 << 20
    /// Far more promotions than any cluster sees; a longer file is not ours.
    package static let maxForks = 10_000

    package struct Fork: Sendable, Equatable, CustomStringConvertible {
        package var epoch: UInt64
        package var firstTxn: UInt64

        package init(epoch: UInt64, firstTxn: UInt64) {
            self.epoch = epoch
            self.firstTxn = firstTxn
        }

        package var description: String { "epoch \(epoch) from txn \(firstTxn)" }
    }

    /// Ascending in both epoch and first txn.
    package private(set) var forks: [Fork]

    package init(forks: [Fork] = []) {
        self.forks = forks
    }

    /// The epoch this node's next record carries.
    package var writingEpoch: UInt64 { forks.last?.epoch ?? 0 }

    /// The first fork point with an epoch above `epoch`: a history that ends in `epoch` is a
    /// prefix of this one only if it ends before that fork's first txn.
    package func fork(after epoch: UInt64) -> Fork? {
        forks.first { $0.epoch > epoch }
    }

    /// The epoch txn `txn` was written in.
    package func epoch(ofTxn txn: UInt64) -> UInt64 {
        forks.last { $0.firstTxn <= txn }?.epoch ?? 0
    }

    /// Adds a fork point; it must continue the history (higher epoch, no earlier txn).
    package mutating func append(_ fork: Fork) throws(StorageError) {
        if let last = forks.last, fork.epoch <= last.epoch || fork.firstTxn < last.firstTxn {
            throw StorageError(.corrupt, path: "node/epochs", "fork point \(fork) does not continue the history (last: \(last))")
        }
        guard forks.count < Self.maxForks else {
            throw StorageError(.limitExceeded, path: "node/epochs", "more than \(Self.maxForks) epochs")
        }
        forks.append(fork)
    }

    package func encoded() -> [UInt8] {
        ChecksummedText.seal(magic: Self.magic, version: Self.formatVersion, lines: forks.map { "epoch \($0.epoch) from txn \($0.firstTxn)" })
    }

    package static func decode(_ bytes: [UInt8], path: String) throws(StorageError) -> EpochHistory {
        let lines = try ChecksummedText.open(bytes, magic: magic, version: formatVersion, what: "epoch history", path: path)
        var history = EpochHistory()
        for line in lines {
            let fields = line.split(separator: " ")
            guard fields.count == 5, fields[0] == "epoch", fields[2] == "from", fields[3] == "txn",
                  let epoch = UInt64(fields[1]), let txn = UInt64(fields[4]), txn >= 1
            else {
                throw StorageError(.corrupt, path: path, "malformed line in epoch history: \(line)")
            }
            do {
                try history.append(Fork(epoch: epoch, firstTxn: txn))
            } catch {
                throw StorageError(.corrupt, path: path, error.message)
            }
        }
        return history
    }

    /// Loads the history of a data directory (empty, i.e. only epoch 0, when there is no file).
    package static func load(_ layout: DataDirectory) throws(StorageError) -> EpochHistory {
        guard let bytes = try DurableFile.read(layout.epochsPath, maxBytes: maxFileBytes) else { return EpochHistory() }
        return try decode(bytes, path: layout.epochsPath)
    }

    package func save(_ layout: DataDirectory, io: StorageIO) throws(StorageError) {
        try DurableFile.replace(layout.epochsPath, with: encoded(), io: io)
    }
}

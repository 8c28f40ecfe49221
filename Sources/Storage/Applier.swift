import Dispatch

/// Applies committed WAL records to the tables in txn order. Runs on the engine's apply
/// queue only (or during open, before anything else can run).
struct Applier: ~Copyable {
    private(set) var stores: [UInt32: TableStore]
    private let tablesDirectory: String
    private var reader: WALReader?
    /// Records read from the WAL but not applied yet, the next one last: a record read ahead
    /// while gathering a run of one table's batches, or a late run held back (`LateApplyHold`).
    private var pending: [WALRecord] = []
    /// The late run held back: its first txn, and the uptime (ns) by which it is applied
    /// whatever comes after it.
    private var held: (firstTxn: UInt64, until: UInt64)?
    /// A hold begun since the last `takeNewHoldDeadline`, for the engine to set its timer.
    private var newHoldDeadline: UInt64?
    private var batch: RowBatch?
    /// The run after the one being applied, decoding on another thread meanwhile (decision
    /// 0044). Lives within one `applyAvailable` or `applyCommitted` loop: put back at its end.
    private var ahead: DecodeAhead?
    /// The batch a run decoded ahead goes into; it and `batch` trade places at every such run.
    private var spareBatch: RowBatch?
    /// Runs applied after decoding ahead.
    private(set) var runsDecodedAhead = 0
    private var sinceCheckpoint = 0
    /// Record payload bytes applied since the last checkpoint.
    private var bytesSinceCheckpoint = 0
    /// Column bytes (as the batches held them) applied since the last checkpoint: what its
    /// fsyncs will write.
    private var columnBytesSinceCheckpoint = 0
    /// Tables that failed to apply a record, with the reason; their later records are skipped.
    private(set) var suspended: [UInt32: String] = [:]
    private(set) var appliedTxn: UInt64 = 0
    /// The lowest checkpointed txn across tables at the previous checkpoint.
    private var previousFloor: UInt64 = 0
    /// Tables whose contents or existence changed since the last `takeChangedSnapshots`.
    private var changed: Set<UInt32> = []

    private let io: StorageIO
    private let outOfOrder: OutOfOrderPolicy
    private let columnConverter: (any ColumnConverter)?

    init(
        stores: [UInt32: TableStore], tablesDirectory: String, damaged: [DamagedTable] = [], io: StorageIO,
        outOfOrder: OutOfOrderPolicy = OutOfOrderPolicy(), columnConverter: (any ColumnConverter)? = nil
    ) {
        self.stores = stores
        self.tablesDirectory = tablesDirectory
        self.io = io
        self.outOfOrder = outOfOrder
        self.columnConverter = columnConverter
        for table in damaged {
            if let id = table.tableID { suspended[id] = "table files are damaged: \(table.reason)" }
            StorageMetrics.unhandledError()
        }
    }

    /// Replays committed records from `txn` during open. A table that fails is suspended; a
    /// WAL that cannot be read stops the open.
    mutating func applyCommitted(wal: WriteAheadLog, from txn: UInt64) throws(StorageError) {
        reader = try WALReader(log: wal, from: txn)
        pending = []
        held = nil
        appliedTxn = txn - 1
        defer { putBackAhead() }
        while try applyNext(upTo: .max, lateHold: nil) {}
    }

    /// The most row-batch payload bytes applied as one batch (8 of the benchmark's 10 000-row
    /// ILP requests; replay measured the same with 0, 4, 16 and 32 MiB).
    static let runMaxBytes = 16 << 20

    /// Applies the next record — or, when it is a row batch, the run of consecutive committed
    /// batches of the same table that follows it, as one batch: their rows are sorted together,
    /// so commits that reached the WAL slightly out of time order (several senders into one
    /// table) meet as one in-order append instead of a merge per commit. Only records already
    /// committed (≤ `limit`) are gathered, so a run forms when apply has fallen behind — or
    /// when `lateHold` keeps back a small run that would be merged into rows already applied
    /// (below). False when the WAL holds nothing more, or the run at its end is held.
    private mutating func applyNext(upTo limit: UInt64, lateHold: LateApplyHold?) throws(StorageError) -> Bool {
        if let ahead {
            try applyDecodedAhead(ahead, upTo: limit, lateHold: lateHold)
            return true
        }
        guard let record = try nextRecord() else { return false }
        guard record.header.kind == .rowBatch, let table = RowBatchCodec.tableID(of: record.payload) else {
            applyOrSuspend(record)
            return true
        }
        let (run, bytes) = try gatherRun(from: record, table: table, upTo: limit)
        // A late commit that reaches the applier alone is merged into the part it lands in,
        // which writes a new version of that part however few rows it brings (about a
        // millisecond of work). Held at the WAL's end for a moment, the commits that follow
        // join it and the part is rewritten once for all of them (decision 0025).
        var decoded = false
        if let lateHold, run.last!.txn == limit, bytes <= lateHold.maxBytes {
            let hold = holds(run, table: table, lateHold)
            if hold.held {
                pending = run.reversed()
                return false
            }
            decoded = hold.decoded
        }
        held = nil
        // The next run decodes while this one is written (not one being held: that decodes here).
        if !decoded { try startDecodingAhead(after: run.last!.txn, upTo: limit, lateHold: lateHold) }
        do {
            try applyRun(run, table: table, decoded: decoded)
        } catch {
            suspended[table] = "apply of txns \(run[0].txn)...\(run.last!.txn) failed: \(error)"
            StorageMetrics.unhandledError()
        }
        appliedTxn = run.last!.txn
        sinceCheckpoint += run.count
        bytesSinceCheckpoint += bytes
        return true
    }

    /// Whether the run at the WAL's end is held back: it would merge into rows already
    /// applied, and the hold begun with its first txn has not expired. `decoded` tells that
    /// `batch` holds the run's rows (judging it decoded them).
    private mutating func holds(
        _ run: [WALRecord], table: UInt32, _ lateHold: LateApplyHold
    ) -> (held: Bool, decoded: Bool) {
        // A held run only grows, and a late run stays late with more rows.
        if let held, held.firstTxn == run[0].txn { return (lateHold.now < held.until, false) }
        guard let store = stores[table], suspended[table] == nil,
              let decoded = try? decode(run.map { ($0.txn, $0.payload) }, into: store), decoded
        else { return (false, false) }
        guard !store.appendsAfterEnd(batch!) else { return (false, true) }
        let until = lateHold.now + lateHold.nanos
        held = (run[0].txn, until)
        newHoldDeadline = until
        StorageMetrics.heldLateRun()
        return (true, true)
    }

    /// The deadline of a hold begun since the last call: the engine applies again by then.
    mutating func takeNewHoldDeadline() -> UInt64? {
        defer { newHoldDeadline = nil }
        return newHoldDeadline
    }

    /// Whether a late run is held back now (applied txns stop before it).
    var isHolding: Bool { held != nil && !pending.isEmpty }

    // MARK: Decoding the next run ahead

    /// A run of one table's row batches being decoded on another thread (decision 0044).
    private final class DecodeAhead: @unchecked Sendable {
        let run: [WALRecord]
        let table: UInt32
        let batch: RowBatch
        private let done = DispatchSemaphore(value: 0)
        /// Set by the decoding thread before `done` is signalled: whether the table had txns
        /// left to apply in the run, or the failure.
        private var result: Result<Bool, StorageError> = .success(false)

        init(run: [WALRecord], table: UInt32, batch: RowBatch) {
            self.run = run
            self.table = table
            self.batch = batch
        }

        func start(schema: TableSchema, appliedTxn: UInt64) {
            DispatchQueue.global(qos: .userInitiated).async { [self] in
                result = Result { () throws(StorageError) in
                    try Applier.decode(run.map { ($0.txn, $0.payload) }, schema: schema, appliedTxn: appliedTxn, into: batch)
                }
                done.signal()
            }
        }

        func wait() -> Result<Bool, StorageError> {
            done.wait()
            return result
        }
    }

    /// Gathers the run after the one ending at `last` and starts decoding it on another
    /// thread, when it is wholly committed, of one table's row batches, and not at the WAL's
    /// end while late runs may be held there. Otherwise what was read goes back to `pending`.
    private mutating func startDecodingAhead(after last: UInt64, upTo limit: UInt64, lateHold: LateApplyHold?) throws(StorageError) {
        guard last < limit, let first = try nextRecord() else { return }
        guard first.header.kind == .rowBatch, let table = RowBatchCodec.tableID(of: first.payload),
              let store = stores[table], suspended[table] == nil
        else {
            pending.append(first)
            return
        }
        let run = try gatherRun(from: first, table: table, upTo: limit).run
        guard lateHold == nil || run.last!.txn < limit else {
            pending.append(contentsOf: run.reversed())
            return
        }
        let decoding = DecodeAhead(run: run, table: table, batch: spareBatch ?? RowBatch(schema: store.schema, maxBytes: .max))
        spareBatch = nil
        decoding.start(schema: store.schema, appliedTxn: store.state.appliedTxn)
        ahead = decoding
    }

    /// Applies the run decoded ahead, once decoded, and starts decoding the one after it.
    private mutating func applyDecodedAhead(_ decoding: DecodeAhead, upTo limit: UInt64, lateHold: LateApplyHold?) throws(StorageError) {
        ahead = nil
        let result = decoding.wait()
        runsDecodedAhead += 1
        spareBatch = batch
        batch = decoding.batch
        let run = decoding.run
        held = nil
        try startDecodingAhead(after: run.last!.txn, upTo: limit, lateHold: lateHold)
        do {
            // Nothing fresh (the table's checkpoint holds the run already): nothing to apply. A
            // table the run before suspended skips it, whatever its decode found.
            if suspended[decoding.table] == nil, try result.get() { try applyRun(run, table: decoding.table, decoded: true) }
        } catch {
            suspended[decoding.table] = "apply of txns \(run[0].txn)...\(run.last!.txn) failed: \(error)"
            StorageMetrics.unhandledError()
        }
        appliedTxn = run.last!.txn
        sinceCheckpoint += run.count
        bytesSinceCheckpoint += run.reduce(0) { $0 + $1.payload.count }
    }

    /// Ends decoding ahead: waits for it and puts its run back to be read again.
    private mutating func putBackAhead() {
        guard let decoding = ahead else { return }
        ahead = nil
        _ = decoding.wait()
        spareBatch = decoding.batch
        pending.append(contentsOf: decoding.run.reversed())
    }

    /// The run of `table`'s row batches starting with `first`: committed ones (≤ `limit`) that
    /// follow it, up to `runMaxBytes` of payload; the record that ends it goes back to `pending`.
    private mutating func gatherRun(from first: WALRecord, table: UInt32, upTo limit: UInt64) throws(StorageError) -> (run: [WALRecord], bytes: Int) {
        var run = [first]
        var bytes = first.payload.count
        while run.last!.txn < limit, bytes < Applier.runMaxBytes, let next = try nextRecord() {
            guard next.header.kind == .rowBatch, RowBatchCodec.tableID(of: next.payload) == table,
                  bytes + next.payload.count <= Applier.runMaxBytes
            else {
                pending.append(next)
                break
            }
            run.append(next)
            bytes += next.payload.count
        }
        return (run, bytes)
    }

    private mutating func nextRecord() throws(StorageError) -> WALRecord? {
        if let record = pending.popLast() { return record }
        return try reader!.next()
    }

    /// Applies consecutive row batches of one table as one batch, committed as the last txn;
    /// `decoded` when `batch` already holds their rows.
    private mutating func applyRun(_ run: [WALRecord], table: UInt32, decoded: Bool = false) throws(StorageError) {
        changed.insert(table)
        for record in run { StorageMetrics.applied(committedAtMicros: record.header.commitTimeMicros) }
        try applyBatches(run.map { ($0.txn, $0.payload) }, table: table, decoded: decoded)
    }

    /// Applies row-batch payloads of one table (consecutive txns) as one batch.
    private mutating func applyBatches(
        _ batches: [(txn: UInt64, payload: [UInt8])], table: UInt32, decoded: Bool = false
    ) throws(StorageError) {
        guard suspended[table] == nil else { return }
        guard let store = stores[table] else {
            throw StorageError(.corrupt, path: "wal", "row batch at txn \(batches[0].txn) names no known table")
        }
        if !decoded {
            guard try decode(batches, into: store) else { return }
        }
        store.appliesBacklog = batches.count > 1
        defer { store.appliesBacklog = false }
        try store.apply(batch!, txn: batches.last!.txn)
        columnBytesSinceCheckpoint += batch!.byteCount
        StorageMetrics.appliedRows(batch!.rowCount)
    }

    /// Decodes the payloads `store` has not applied yet into `batch`, as one batch; false
    /// when it has them all (after a crash a run may start with txns the table's checkpoint
    /// already holds).
    private mutating func decode(_ batches: [(txn: UInt64, payload: [UInt8])], into store: TableStore) throws(StorageError) -> Bool {
        if batch == nil { batch = RowBatch(schema: store.schema, maxBytes: .max) }
        return try Applier.decode(batches, schema: store.schema, appliedTxn: store.state.appliedTxn, into: batch!)
    }

    /// Decodes the payloads past `appliedTxn` into `batch`, as one batch; false when there are
    /// none. Touches nothing but `batch`: runs on another thread for a run decoded ahead.
    private static func decode(
        _ batches: [(txn: UInt64, payload: [UInt8])], schema: TableSchema, appliedTxn: UInt64, into batch: RowBatch
    ) throws(StorageError) -> Bool {
        let fresh = batches.drop { $0.txn <= appliedTxn }
        guard !fresh.isEmpty else { return false }
        for (index, item) in fresh.enumerated() {
            try RowBatchCodec.decode(item.payload, schema: schema, into: batch, appending: index > 0)
        }
        return true
    }

    /// Applies one record; a failure suspends the table it concerns and the others go on.
    private mutating func applyOrSuspend(_ record: WALRecord) {
        do {
            try apply(record)
        } catch {
            suspend(record, error)
            appliedTxn = record.txn
        }
        sinceCheckpoint += 1
        bytesSinceCheckpoint += record.payload.count
    }

    /// Applies records up to `limit` — short of a late run at the end that `lateHold` keeps
    /// back; a table that fails is suspended, the others go on. Checkpoints after
    /// `checkpointEvery` txns, `checkpointEveryBytes` of payload or `checkpointEveryColumnBytes`
    /// of column data, whichever comes first, or once the tables hold `maxOpenColumnFiles`
    /// files open.
    mutating func applyAvailable(
        wal: WriteAheadLog, upTo limit: UInt64, checkpointEvery: Int, checkpointEveryBytes: Int = .max,
        checkpointEveryColumnBytes: Int = .max, maxOpenColumnFiles: Int = .max, hold: UInt64? = nil,
        lateHold: LateApplyHold? = nil
    ) {
        do {
            if reader == nil {
                reader = try WALReader(log: wal, from: appliedTxn + 1)
                pending = []
                held = nil
            }
            defer { putBackAhead() }
            while appliedTxn < limit, try applyNext(upTo: limit, lateHold: lateHold) {
                if sinceCheckpoint >= checkpointEvery || bytesSinceCheckpoint >= checkpointEveryBytes
                    || columnBytesSinceCheckpoint >= checkpointEveryColumnBytes || openColumnFiles >= maxOpenColumnFiles
                {
                    try checkpointAll(wal: wal, hold: hold)
                }
            }
        } catch {
            // The WAL itself failed to read: every table stops until restart.
            suspendAll("WAL read failed: \(error)")
        }
    }

    /// Column files the tables hold open (appended since their last checkpoint, which closes them).
    var openColumnFiles: Int { stores.values.reduce(0) { $0 + $1.openFileCount } }

    /// Stops every table until restart (the WAL or a checkpoint failed under all of them).
    mutating func suspendAll(_ reason: String) {
        for id in stores.keys where suspended[id] == nil { suspended[id] = reason }
        StorageMetrics.unhandledError()
    }

    private mutating func apply(_ record: WALRecord) throws(StorageError) {
        if let id = Applier.tableID(of: record) { changed.insert(id) }
        defer {
            appliedTxn = record.txn
            StorageMetrics.applied(committedAtMicros: record.header.commitTimeMicros)
        }
        switch record.header.kind {
        case .schemaChange:
            let change = try SchemaChange.decode(record.payload, txn: record.txn)
            if case .dropTable = change {} else {
                guard suspended[change.tableID] == nil else { return }
            }
            if case .createTable(let schema) = change {
                guard stores[schema.tableID] == nil else { return }
                let store = try TableStore.create(in: tablesDirectory, schema: schema, txn: record.txn, io: io)
                store.outOfOrder = outOfOrder
                stores[schema.tableID] = store
                return
            }
            try applyToExisting(change, txn: record.txn)
        case .rowBatch:
            // Only a batch that names no table gets here (runs go through `applyRun`).
            try applyBatch(record.payload, txn: record.txn)
        case .rowBatchGroup:
            guard let members = RowBatchCodec.members(ofGroup: record.payload) else {
                throw StorageError(.corrupt, path: "wal", "row batch group at txn \(record.txn) is malformed")
            }
            // One transaction over several tables: each table applies its part; a table that
            // fails is suspended alone, like a single-table batch.
            for member in members {
                let payload = Array(member)
                let id = RowBatchCodec.tableID(of: payload)
                if let id { changed.insert(id) }
                do {
                    try applyBatch(payload, txn: record.txn)
                } catch {
                    guard let id else { throw error }
                    suspended[id] = "apply of txn \(record.txn) failed: \(error)"
                    StorageMetrics.unhandledError()
                }
            }
        case .rowUpdate:
            guard let id = RowUpdateCodec.tableID(of: record.payload) else {
                throw StorageError(.corrupt, path: "wal", "update at txn \(record.txn) is malformed")
            }
            guard suspended[id] == nil else { return }
            guard let store = stores[id] else {
                throw StorageError(.corrupt, path: "wal", "update at txn \(record.txn) names no known table")
            }
            try store.update(try RowUpdateCodec.decode(record.payload, schema: store.schema), txn: record.txn)
        default:
            return
        }
    }

    /// A schema change of a table that has a store (all but `createTable`).
    private mutating func applyToExisting(_ change: SchemaChange, txn: UInt64) throws(StorageError) {
        // A table dropped before the last run ended has no store: nothing left to do.
        guard let store = stores[change.tableID], store.state.appliedTxn < txn else { return }
        switch change {
        case .createTable: break
        case .alterTable(let schema): try store.alter(to: schema, txn: txn)
        case .changeColumnType(let schema, let from):
            try store.changeColumnType(to: schema, from: from, converter: columnConverter, txn: txn)
        case .truncateTable: try store.truncate(txn: txn)
        case .dropPartitions(_, let timestamps): try store.dropPartitions(timestamps, txn: txn)
        case .detachPartitions(_, let timestamps): try store.detachPartitions(timestamps, txn: txn)
        case .attachPartitions(_, let partitions): try store.attachPartitions(partitions, txn: txn)
        case .squashPartitions: try store.squashAllPartitions(txn: txn)
        case .dropTable:
            try store.drop()
            stores[change.tableID] = nil
            suspended[change.tableID] = nil
        }
    }

    // MARK: Resuming a suspended table

    /// QuestDB's `ALTER TABLE … RESUME WAL [FROM TXN n]`: the suspended table is reopened from
    /// its files (rolled back to its last checkpoint, as after a crash) and its records are
    /// replayed from the WAL up to what every other table has applied — from the failed one
    /// on, or from `txn`, skipping this table's records before it (the operator gives up
    /// their rows). A record that fails again suspends the table again and is thrown.
    /// Nothing happens to a table that is not suspended.
    mutating func resume(table id: UInt32, from txn: UInt64?, wal: WriteAheadLog) throws(StorageError) {
        guard let reason = suspended[id] else { return }
        guard let old = stores[id] else {
            throw StorageError(.notWritable, path: "wal", "the table's files are damaged; it cannot resume until they are repaired [\(reason)]")
        }
        let store = try TableStore(directory: old.directory, io: io)
        store.outOfOrder = outOfOrder
        old.closeOpenFiles()
        stores[id] = store
        changed.insert(id)
        let next = store.state.appliedTxn + 1
        if let txn {
            guard txn >= next else {
                throw StorageError(
                    .notWritable, path: store.schema.name,
                    "cannot resume from txn \(txn): the table has applied everything through txn \(next - 1)")
            }
            guard txn <= appliedTxn + 1 else {
                throw StorageError(
                    .notWritable, path: store.schema.name, "cannot resume from txn \(txn): the last txn is \(appliedTxn)")
            }
            store.markApplied(through: txn - 1)
        }
        suspended[id] = nil
        let replay = try WALReader(log: wal, from: store.state.appliedTxn + 1)
        while replay.nextTxn <= appliedTxn, let record = try replay.next(), record.txn <= appliedTxn {
            do {
                try replayRecord(record, table: id)
            } catch {
                suspended[id] = "apply of txn \(record.txn) failed: \(error)"
                throw error
            }
            if stores[id] == nil { return }  // the table was dropped by a later record
        }
    }

    /// QuestDB's `ALTER TABLE … SUSPEND WAL`: the table stops applying (its later records wait
    /// in the WAL) until RESUME WAL, as if an apply had failed — checkpointed first, so the
    /// resume replays only what came after. False when it was suspended already.
    mutating func suspend(table id: UInt32, reason: String) throws(StorageError) -> Bool {
        guard suspended[id] == nil, let store = stores[id] else { return false }
        store.markApplied(through: appliedTxn)
        try store.checkpoint()
        suspended[id] = reason
        return true
    }

    /// The part of `record` that concerns table `id`, applied to it alone.
    private mutating func replayRecord(_ record: WALRecord, table id: UInt32) throws(StorageError) {
        switch record.header.kind {
        case .schemaChange:
            let change = try SchemaChange.decode(record.payload, txn: record.txn)
            if change.tableID == id { try applyToExisting(change, txn: record.txn) }
        case .rowBatch:
            if RowBatchCodec.tableID(of: record.payload) == id { try applyBatches([(record.txn, record.payload)], table: id) }
        case .rowBatchGroup:
            guard let members = RowBatchCodec.members(ofGroup: record.payload) else {
                throw StorageError(.corrupt, path: "wal", "row batch group at txn \(record.txn) is malformed")
            }
            for member in members where RowBatchCodec.tableID(of: Array(member)) == id {
                try applyBatches([(record.txn, Array(member))], table: id)
            }
        case .rowUpdate:
            guard RowUpdateCodec.tableID(of: record.payload) == id, let store = stores[id] else { return }
            try store.update(try RowUpdateCodec.decode(record.payload, schema: store.schema), txn: record.txn)
        default:
            return
        }
    }

    private mutating func applyBatch(_ payload: [UInt8], txn: UInt64) throws(StorageError) {
        guard let id = RowBatchCodec.tableID(of: payload) else {
            throw StorageError(.corrupt, path: "wal", "row batch at txn \(txn) is malformed")
        }
        try applyBatches([(txn, payload)], table: id)
    }

    private mutating func suspend(_ record: WALRecord, _ error: any Error) {
        let id = Applier.tableID(of: record) ?? 0
        suspended[id] = "apply of txn \(record.txn) failed: \(error)"
        StorageMetrics.unhandledError()
    }

    /// Checkpoints every table at the applied txn, then lets the WAL drop what no table (and
    /// no replica, through `hold`) can need any more.
    ///
    /// Purge lags one checkpoint behind: if the newest `_txn` slot of a table were ever lost,
    /// the table falls back to its previous checkpoint and must find the WAL from there.
    mutating func checkpointAll(wal: WriteAheadLog? = nil, hold: UInt64? = nil) throws(StorageError) {
        for (id, store) in stores {
            // A suspended table keeps its last good checkpoint: its memory may hold half of
            // the apply that failed. RESUME WAL (or a restart) reopens it from there.
            guard suspended[id] == nil else { continue }
            store.markApplied(through: appliedTxn)
            try store.checkpoint()
        }
        sinceCheckpoint = 0
        bytesSinceCheckpoint = 0
        columnBytesSinceCheckpoint = 0
        let floor = stores.values.map(\.checkpointedTxn).min() ?? appliedTxn
        if let wal {
            let limit = min(previousFloor, hold ?? .max)
            if limit > 0 { StorageMetrics.purged(bytes: try wal.purge(through: limit)) }
        }
        previousFloor = floor
    }

    /// The table a record concerns, if any.
    private static func tableID(of record: WALRecord) -> UInt32? {
        switch record.header.kind {
        case .schemaChange: (try? SchemaChange.decode(record.payload, txn: record.txn))?.tableID
        case .rowBatch: RowBatchCodec.tableID(of: record.payload)
        case .rowUpdate: RowUpdateCodec.tableID(of: record.payload)
        default: nil
        }
    }

    /// New snapshots of the tables changed since the last call; `nil` for a dropped table.
    mutating func takeChangedSnapshots() -> [UInt32: TableSnapshot?] {
        defer { changed = [] }
        var result: [UInt32: TableSnapshot?] = [:]
        for id in changed { result[id] = .some(stores[id]?.snapshot()) }
        return result
    }

    func snapshots() -> [UInt32: TableSnapshot] {
        stores.mapValues { $0.snapshot() }
    }
}

/// How long the applier may keep back a small run of late commits at the WAL's end so the
/// commits after it are merged with it (one new version of the part they land in instead of
/// one per commit). Rows held are durable and acknowledged, only not visible yet; anything
/// waiting for visibility (INSERT, UPDATE, DDL, checkpoints) applies without a hold.
struct LateApplyHold {
    /// Longest a run is held, from the first time it was.
    var nanos: UInt64
    /// Largest run held (payload bytes): a large one gains little from waiting.
    var maxBytes: Int
    /// Uptime (ns) of this apply round.
    var now: UInt64
}

import Storage

#if canImport(Glibc)
import Glibc
#endif

/// The storage benchmarks of issue 3, in one run so the numbers are comparable: the disk's raw
/// write + fdatasync bandwidth measured here and now, then the WAL, apply and recovery.
struct StorageBenchmarks {
    let root: String
    let rows: Int
    /// Benchmarks to run; `nil` for all.
    let selected: Set<String>?

    private func wants(_ name: String) -> Bool { selected?.contains(name) ?? true }

    func runAll() async throws {
        reset(root)
        print("| benchmark | result |")
        print("|---|---|")
        let raw = wants("raw") || wants("wal") ? try rawDisk() : (buffered: 1, synced: 1)
        if wants("raw") {
            print("| raw disk: 1 MiB writes, one fdatasync at the end | \(mb(raw.buffered)) MB/s |")
            print("| raw disk: 1 MiB write + fdatasync each | \(mb(raw.synced)) MB/s |")
        }
        if wants("wal") {
            // The same-size baseline: one commit's bytes written and fdatasynced, back to back.
            let payload = try batchPayloadBytes(rows: 1_000)
            let same = try rawSyncedWrites(chunk: payload, count: 240)
            print("| raw disk: \(payload)-byte write + fdatasync each (one WAL batch's size) | \(mb(same)) MB/s |")
            let single = try await walCommits(committers: 1, rowsPerBatch: 1_000, batches: 240)
            print("| WAL sync commits, 1000-row batches, 1 committer, vs same-size raw writes | \(format2(100 * single.bytesPerSecond / same))% |")
        }
        for committers in [1, 8] where wants("wal") {
            let result = try await walCommits(committers: committers, rowsPerBatch: 1_000, batches: 240)
            print("| WAL sync commits, 1000-row TSBS batches, \(committers) committer(s) | \(mb(result.bytesPerSecond)) MB/s, \(Int(result.rowsPerSecond)) rows/s, \(String(format2(100 * result.bytesPerSecond / raw.synced)))% of raw synced |")
        }
        for committers in [1, 8] where wants("wal") {
            let result = try await walCommits(committers: committers, rowsPerBatch: 1, batches: 2_000)
            print("| WAL sync commits, 1-row batches, \(committers) committer(s) | \(Int(result.commitsPerSecond)) commits/s (\(result.syncRounds) fsyncs for \(result.commits) commits) |")
        }
        if wants("build") {
            let rowsPerSecond = try buildBatches()
            print("| build row batches, \(rows) TSBS rows (10 symbols + 11 fixed per row), 1 core | \(Int(rowsPerSecond)) rows/s |")
        }
        if wants("apply") {
            let inOrder = try apply(lateFraction: 0)
            print("| apply in order, \(rows) TSBS rows, 10000-row batches | \(Int(inOrder.rowsPerSecond)) rows/s, \(format2(inOrder.bytesPerRow)) bytes/row on disk |")
        }
        if wants("o3") {
            let late = try apply(lateFraction: 0.1, rows: min(rows, 200_000))
            print("| apply with 10 % out-of-order rows, \(min(rows, 200_000)) rows | \(Int(late.rowsPerSecond)) rows/s |")
        }
        if wants("recovery") {
            let recovery = try await recoveryTime()
            print("| recovery (replay) of \(mb(Double(recovery.walBytes))) MB un-checkpointed WAL | \(format2(recovery.seconds)) s, \(format2(recovery.seconds / (Double(recovery.walBytes) / Double(1 << 30)))) s/GiB |")
        }
    }

    // MARK: Raw disk

    func rawDisk() throws -> (buffered: Double, synced: Double) {
        let path = root + "/raw"
        let chunk = [UInt8](repeating: 0x5A, count: 1 << 20)
        func run(syncEach: Bool) -> Double {
            unlink(path)
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            let start = ContinuousClock.now
            for index in 0..<256 {
                _ = chunk.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(index << 20)) }
                if syncEach { fdatasync(fd) }
            }
            fdatasync(fd)
            let seconds = (ContinuousClock.now - start).seconds
            close(fd)
            return Double(256 << 20) / seconds
        }
        // Best of three each: the first pass also allocates blocks, and the disk is shared.
        let buffered = (0..<3).map { _ in run(syncEach: false) }.max()!
        let synced = (0..<3).map { _ in run(syncEach: true) }.max()!
        unlink(path)
        return (buffered, synced)
    }

    /// Bytes per second of `count` writes of `chunk` bytes, each followed by fdatasync.
    func rawSyncedWrites(chunk: Int, count: Int) throws -> Double {
        let path = root + "/raw-chunks"
        let bytes = [UInt8](repeating: 0x5A, count: chunk)
        var best = 0.0
        for _ in 0..<3 {
            unlink(path)
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            let start = ContinuousClock.now
            for index in 0..<count {
                _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(index * chunk)) }
                fdatasync(fd)
            }
            best = max(best, Double(chunk * count) / (ContinuousClock.now - start).seconds)
            close(fd)
        }
        unlink(path)
        return best
    }

    func batchPayloadBytes(rows: Int) throws -> Int {
        var schema = TSBSRows.schema(name: "cpu")
        schema.tableID = 1
        var generator = TSBSRows(hosts: 100)
        let batch = RowBatch(schema: schema)
        try generator.fill(batch, count: rows)
        var payload: [UInt8] = []
        RowBatchCodec.encode(batch, into: &payload)
        return payload.count + WALRecordHeader.size
    }

    // MARK: WAL

    struct WALResult {
        var bytesPerSecond: Double
        var rowsPerSecond: Double
        var commitsPerSecond: Double
        var commits: Int
        var syncRounds: Int
    }

    func walCommits(committers: Int, rowsPerBatch: Int, batches: Int) async throws -> WALResult {
        let directory = root + "/wal-\(committers)-\(rowsPerBatch)"
        reset(directory)
        let log = try WriteAheadLog(directory: directory, configuration: WALConfiguration(commitMode: .sync))
        var schema = TSBSRows.schema(name: "cpu")
        schema.tableID = 1
        var generator = TSBSRows(hosts: 100)
        let batch = RowBatch(schema: schema)
        try generator.fill(batch, count: rowsPerBatch)
        var payload: [UInt8] = []
        RowBatchCodec.encode(batch, into: &payload)
        let perCommitter = batches / committers
        let encoded = payload
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<committers {
                group.addTask {
                    for _ in 0..<perCommitter {
                        // Encoding is part of a commit's cost: re-encode from the batch bytes.
                        var copy: [UInt8] = []
                        copy.reserveCapacity(encoded.count)
                        copy.append(contentsOf: encoded)
                        _ = try await log.commit(kind: .rowBatch, epoch: 0, payload: copy)
                    }
                }
            }
            try await group.waitForAll()
        }
        let seconds = (ContinuousClock.now - start).seconds
        let commits = perCommitter * committers
        return WALResult(
            bytesPerSecond: Double(commits * encoded.count) / seconds, rowsPerSecond: Double(commits * rowsPerBatch) / seconds,
            commitsPerSecond: Double(commits) / seconds, commits: commits, syncRounds: log.syncRounds)
    }

    // MARK: Building batches

    /// The storage-side cost of ingestion: setting every value of every row in a reused batch.
    func buildBatches() throws -> Double {
        var schema = TSBSRows.schema(name: "cpu")
        schema.tableID = 1
        var generator = TSBSRows(hosts: 100)
        let batch = RowBatch(schema: schema, maxBytes: .max)
        try generator.fill(batch, count: 10_000)  // warm the buffers
        let start = ContinuousClock.now
        var remaining = rows
        while remaining > 0 {
            try generator.fill(batch, count: min(10_000, remaining))
            remaining -= 10_000
        }
        return Double(rows) / (ContinuousClock.now - start).seconds
    }

    // MARK: Apply

    func apply(lateFraction: Double, rows: Int? = nil) throws -> (rowsPerSecond: Double, bytesPerRow: Double) {
        let total = rows ?? self.rows
        let directory = root + "/apply-\(Int(lateFraction * 100))"
        reset(directory)
        var schema = TSBSRows.schema(name: "cpu")
        schema.tableID = 1
        let store = try TableStore.create(in: directory, schema: schema, txn: 1)
        var generator = TSBSRows(hosts: 100)
        // Batches are built before the clock starts: this measures apply alone.
        var batches: [RowBatch] = []
        var remaining = total
        while remaining > 0 {
            let batch = RowBatch(schema: schema, maxBytes: .max)
            try generator.fill(batch, count: min(10_000, remaining), lateFraction: lateFraction)
            batches.append(batch)
            remaining -= batch.rowCount
        }
        let start = ContinuousClock.now
        var txn: UInt64 = 1
        for batch in batches {
            txn += 1
            try store.apply(batch, txn: txn)
        }
        try store.checkpoint()
        let seconds = (ContinuousClock.now - start).seconds
        return (Double(total) / seconds, Double(directorySize(store.directory)) / Double(total))
    }

    // MARK: Recovery

    func recoveryTime() async throws -> (seconds: Double, walBytes: Int) {
        let directory = root + "/recovery"
        reset(directory)
        let layout = DataDirectory(root: directory)
        let configuration = StorageConfiguration(wal: WALConfiguration(commitMode: .nosync), checkpointEveryTxns: .max)
        var walBytes = 0
        do {
            let opened = try layout.open(initialRole: .standalone)
            let engine = try StorageEngine(layout: layout, configuration: configuration)
            let schema = try await engine.createTable(TSBSRows.schema(name: "cpu"))
            var generator = TSBSRows(hosts: 100)
            let batch = RowBatch(schema: schema, maxBytes: .max)
            var last: UInt64 = 0
            for _ in 0..<(rows / 10_000) {
                try generator.fill(batch, count: 10_000)
                last = try await engine.commit(batch)
            }
            await engine.waitUntilApplied(last)
            engine.waitForApplier()
            walBytes = engine.wal.retainedBytes
            withExtendedLifetime(opened) {}
        }
        let start = ContinuousClock.now
        let opened = try layout.open(initialRole: .standalone)
        let engine = try StorageEngine(layout: layout, configuration: configuration)
        let seconds = (ContinuousClock.now - start).seconds
        precondition(engine.snapshot(ofTable: "cpu")?.rowCount == (rows / 10_000) * 10_000, "recovery lost rows")
        withExtendedLifetime(opened) {}
        return (seconds, walBytes)
    }

    // MARK: Helpers

    private func reset(_ path: String) {
        ColumnFiles.removeTree(path)
        try? DurableFile.createDirectory(path, io: .system)
    }

    private func directorySize(_ path: String) -> Int {
        var total = 0
        var info = stat()
        guard lstat(path, &info) == 0 else { return 0 }
        if (info.st_mode & S_IFMT) != S_IFDIR { return Int(info.st_size) }
        guard let handle = opendir(path) else { return 0 }
        defer { closedir(handle) }
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { total += directorySize(path + "/" + name) }
        }
        return total
    }
}

func mb(_ bytesPerSecond: Double) -> String { format2(bytesPerSecond / 1_000_000) }

func format2(_ value: Double) -> String {
    let scaled = (value * 100).rounded() / 100
    return "\(scaled)"
}

extension Duration {
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}

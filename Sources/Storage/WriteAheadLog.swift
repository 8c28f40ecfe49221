import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The node's one ordered log (DESIGN §3): dense txn numbers, segments, group commit.
///
/// Appends copy the record into the page cache under a short lock. Durability is a separate
/// step run on a dedicated queue: one fdatasync covers every record appended before it
/// started, and every committer waiting for any of them is released together (group commit).
/// An fsync failure fails every waiting commit and makes the log refuse writes until restart:
/// after a failed fsync the kernel may have dropped the dirty pages, so retrying and then
/// acknowledging could acknowledge lost data (PostgreSQL's fsyncgate).
package final class WriteAheadLog: Sendable {
    package let directory: String
    package let configuration: WALConfiguration
    private let state: PlainMutex<WALState>
    private let syncQueue = DispatchQueue(label: "sundial.wal.sync")

    /// Opens the log in `directory`, recovering it (see `WALRecovery`).
    ///
    /// `nextTxnIfEmpty` is where numbering continues when no segment exists (every segment
    /// purged): the caller passes one past the highest txn any table has applied.
    package init(
        directory: String, configuration: WALConfiguration, nextTxnIfEmpty: UInt64 = 1, obsoleteThrough: UInt64 = 0,
        io: StorageIO = .system
    ) throws(StorageError) {
        let recovered = try WALRecovery(directory: directory, maxRecordBytes: configuration.maxRecordBytes, io: io)
            .run(segmentSizeBytes: configuration.segmentSizeBytes, obsoleteThrough: obsoleteThrough)
        // Spares of an earlier run go: whatever happened since (a restore, a resync) could make
        // their old records look current to a reader. Reuse starts again with the next purge.
        for spare in try WALSegmentFiles.spares(directory) where io.unlink(spare) != 0 && errno != ENOENT {
            throw StorageError(.io, path: spare, "cannot remove a spare WAL segment", errno: errno)
        }
        var initial = WALState(
            nextTxn: recovered.nextTxn ?? nextTxnIfEmpty, epoch: recovered.lastEpoch, segments: recovered.segments, io: io)
        if let last = recovered.segments.last {
            let fd = open(last.path, O_WRONLY | O_CLOEXEC)
            if fd < 0 { throw StorageError(.io, path: last.path, "cannot open the last segment for appends", errno: errno) }
            initial.current = OpenSegment(fd: fd, firstTxn: last.firstTxn, path: last.path, size: last.sizeBytes)
        }
        self.directory = directory
        self.configuration = configuration
        self.state = PlainMutex(initial)
        self.truncatedBytesAtOpen = recovered.truncatedBytes
        self.io = io
    }

    private let io: StorageIO

    /// Bytes of a torn tail cut off at open (0 for a clean log), for the startup log line.
    package let truncatedBytesAtOpen: Int

    deinit {
        state.withLock { state in
            if let current = state.current {
                // A reused segment's former records past the end go, so the next open does not
                // take them for a torn tail (it would cut them the same way).
                _ = io.ftruncate(current.fd, current.size)
                close(current.fd)
            }
            for fd in state.unsyncedSealed { close(fd) }
        }
    }

    // MARK: Appending

    /// Appends one record; it is durable only once `waitDurable` (or `commit`) says so.
    package func append(
        kind: WALRecordKind, epoch: UInt64, payload: UnsafeRawBufferPointer
    ) throws(StorageError) -> WALPosition {
        try append(kind: kind, epoch: epoch, pieces: [payload])
    }

    /// Appends one record whose payload is the concatenation of `pieces`, written from where
    /// they are (`PayloadPieces`).
    package func append(
        kind: WALRecordKind, epoch: UInt64, pieces payload: [UnsafeRawBufferPointer]
    ) throws(StorageError) -> WALPosition {
        let payloadBytes = payload.reduce(0) { $0 + $1.count }
        guard payloadBytes <= configuration.maxRecordBytes else {
            throw StorageError(
                .limitExceeded, path: directory,
                "a WAL record of \(payloadBytes) bytes exceeds the limit of \(configuration.maxRecordBytes)")
        }
        let now = WriteAheadLog.nowMicros()
        let immediate = configuration.commitMode != .sync
        let position = try state.withLock { (state) throws(StorageError) -> WALPosition in
            let position = try state.append(
                kind: kind, epoch: epoch, payload: payload, commitTimeMicros: now, directory: directory,
                segmentSizeBytes: configuration.segmentSizeBytes)
            if immediate { state.releaseWatchers(committedTxn: position.txn) }
            return position
        }
        if configuration.commitMode == .async { scheduleSync(after: configuration.asyncSyncIntervalMillis) }
        return position
    }

    /// Appends a record received from the primary: same txn, epoch and commit time, and its
    /// verified checksum carried over to this log's header (`header` must be what
    /// `WALRecordCodec.decode` read with `payload`). The txn must be the next one; durability is the caller's to wait for (`waitDurable`), whatever
    /// the commit mode, because a replica reports its durable position to the primary.
    package func appendReplicated(_ header: WALRecordHeader, payload: UnsafeRawBufferPointer) throws(StorageError) -> WALPosition {
        try state.withLock { (state) throws(StorageError) -> WALPosition in
            guard header.txn == state.nextTxn else {
                throw StorageError(
                    .corrupt, path: directory, "replicated txn \(header.txn) does not follow the WAL's last txn \(state.nextTxn - 1)")
            }
            guard header.epoch >= state.epoch else {
                throw StorageError(
                    .corrupt, path: directory,
                    "replicated txn \(header.txn) has epoch \(header.epoch), older than the WAL's epoch \(state.epoch)")
            }
            let position = try state.append(
                kind: header.kind, epoch: header.epoch, payload: [payload], commitTimeMicros: header.commitTimeMicros,
                directory: directory, segmentSizeBytes: configuration.segmentSizeBytes, replicating: header)
            if configuration.commitMode != .sync { state.releaseWatchers(committedTxn: position.txn) }
            return position
        }
    }

    /// Appends a record and returns once it is committed as `commitMode` defines it.
    package func commit(kind: WALRecordKind, epoch: UInt64, payload: [UInt8]) async throws(StorageError)
        -> WALPosition
    {
        let appended = payload.withUnsafeBytes { raw in
            Result { () throws(StorageError) in try append(kind: kind, epoch: epoch, payload: raw) }
        }
        let position = try appended.get()
        if configuration.commitMode == .sync { try await waitDurable(position.txn) }
        return position
    }

    /// Returns once `txn` is on stable storage, starting a group-commit round if none runs.
    package func waitDurable(_ txn: UInt64) async throws(StorageError) {
        let result: Result<Void, StorageError> = await withCheckedContinuation { continuation in
            let start = state.withLock { state -> Bool? in
                if let failure = state.failure {
                    continuation.resume(returning: .failure(failure))
                    return nil
                }
                if state.durableTxn >= txn {
                    continuation.resume(returning: .success(()))
                    return nil
                }
                state.waiters.append(WALWaiter(txn: txn, continuation: continuation))
                return state.claimSyncRound()
            }
            if start == true { syncQueue.async { self.syncRound() } }
        }
        try result.get()
    }

    /// Starts a group-commit round now, unless one is already under way or nothing waits to
    /// be synced: a replica's fsync then runs while it reports the records received, before
    /// anyone waits for it (`waitDurable` joins the round).
    package func startSync() {
        let start = state.withLock { state -> Bool in
            guard state.failure == nil, state.durableTxn < state.nextTxn - 1 else { return false }
            return state.claimSyncRound()
        }
        if start { syncQueue.async { self.syncRound() } }
    }

    /// Returns once some txn after `txn` is committed: how appliers and replication wait for work.
    package func waitForCommit(beyond txn: UInt64) async {
        _ = await waitForCommit(beyond: txn, timeoutMillis: nil)
    }

    /// Like `waitForCommit(beyond:)`, but gives up after `timeoutMillis` (then returns false):
    /// replication's shipper sends a keepalive when nothing was committed for a while, and a
    /// wait that could outlive its connection must not hold the connection's task.
    package func waitForCommit(beyond txn: UInt64, timeoutMillis: Int?) async -> Bool {
        let sync = configuration.commitMode == .sync
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let id = state.withLock { state -> UInt64? in
                let committed = sync ? state.durableTxn : state.nextTxn - 1
                if committed > txn {
                    continuation.resume(returning: true)
                    return nil
                }
                state.watcherIDs += 1
                state.commitWatchers.append(CommitWatcher(id: state.watcherIDs, after: txn, continuation: continuation))
                return state.watcherIDs
            }
            guard let id, let timeoutMillis else { return }
            // Not on `syncQueue`: a timeout must not wait behind an fsync.
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(timeoutMillis)) {
                let expired = self.state.withLock { state -> CommitWatcher? in
                    guard let index = state.commitWatchers.firstIndex(where: { $0.id == id }) else { return nil }
                    return state.commitWatchers.remove(at: index)
                }
                expired?.continuation.resume(returning: false)
            }
        }
    }

    // MARK: Positions

    /// The txn the next append will get.
    package var nextTxn: UInt64 { state.withLock { $0.nextTxn } }

    /// Highest txn on stable storage (0 when none).
    package var durableTxn: UInt64 { state.withLock { $0.durableTxn } }

    /// Highest txn acknowledged to clients: durable in `sync` mode, appended otherwise.
    package var committedTxn: UInt64 {
        state.withLock { configuration.commitMode == .sync ? $0.durableTxn : $0.nextTxn - 1 }
    }

    /// The first txn still in the log (`nextTxn` when it holds none): what replication can serve.
    package var oldestTxn: UInt64 { state.withLock { $0.segments.first?.firstTxn ?? $0.nextTxn } }

    /// Segments in order (the last one is being appended to).
    package var segments: [WALSegmentInfo] { state.withLock { $0.segments } }

    /// How many fdatasync rounds have run: with group commit, far fewer than commits.
    package var syncRounds: Int { state.withLock { $0.syncRounds } }

    // MARK: Retention

    /// Drops sealed segments whose every record is at or below `txn`; the segment being
    /// appended to always stays. Up to `recycledSegments` of them are kept as spares that new
    /// segments reuse (decision 0030), the rest deleted. Returns the number of bytes freed.
    @discardableResult
    package func purge(through txn: UInt64) throws(StorageError) -> Int {
        let (doomed, room) = state.withLock { state -> ([WALSegmentInfo], Int) in
            var doomed: [WALSegmentInfo] = []
            while state.segments.count > 1, let first = state.segments.first, first.lastTxn <= txn {
                doomed.append(state.segments.removeFirst())
            }
            return (doomed, configuration.recycledSegments - state.spares.count)
        }
        guard !doomed.isEmpty else { return 0 }
        // The newest are kept: the oldest would be reused first and are the likeliest to have
        // left the page cache.
        var spares: [String] = []
        for (index, segment) in doomed.enumerated() {
            if doomed.count - index <= room {
                let spare = directory + "/" + WALSegmentFiles.spareName(firstTxn: segment.firstTxn)
                if io.rename(segment.path, spare) == 0 {
                    spares.append(spare)
                    continue
                }
            }
            if io.unlink(segment.path) != 0 && errno != ENOENT {
                throw StorageError(.io, path: segment.path, "cannot remove a purged WAL segment", errno: errno)
            }
        }
        // One directory fsync for all: if power fails before it, any subset of these files may
        // come back, and the next open drops them again (`WALRecovery`, `obsoleteThrough`; a
        // spare is deleted at open). A spare is reused only once its new name is durable.
        try DurableFile.syncDirectory(containing: directory + "/segment", io: io)
        if !spares.isEmpty { state.withLock { $0.spares.append(contentsOf: spares) } }
        return doomed.reduce(0) { $0 + $1.sizeBytes }
    }

    /// Cuts the segment being appended to at its last record: a reused file keeps its former
    /// records past the new ones, which the next open would have to step over (and a binary
    /// from before decision 0030 would take for damage). For a graceful shutdown, after the
    /// last append; appends after it still work (they extend the file instead of overwriting).
    package func cutReusedTail() throws(StorageError) {
        try state.withLock { (state) throws(StorageError) in
            guard let current = state.current else { return }
            if io.ftruncate(current.fd, current.size) != 0 {
                throw StorageError(.io, path: current.path, "cannot cut a reused WAL segment to its records", errno: errno)
            }
        }
    }

    /// Spare segments waiting for reuse.
    package var spareCount: Int { state.withLock { $0.spares.count } }

    /// Bytes held by all segments.
    package var retainedBytes: Int { state.withLock { $0.segments.reduce(0) { $0 + $1.sizeBytes } } }

    // MARK: Durability

    private func scheduleSync(after millis: Int) {
        let start = state.withLock { $0.claimSyncRound() }
        guard start else { return }
        syncQueue.asyncAfter(deadline: .now() + .milliseconds(millis)) { self.syncRound() }
    }

    /// One group-commit round, on `syncQueue`: sync everything appended so far, release waiters.
    private func syncRound() {
        let job = state.withLock { $0.takeSyncJob() }
        var failure: StorageError?
        for fd in job.sealed {
            if failure == nil && io.fdatasync(fd) != 0 {
                failure = StorageError(.io, path: directory, "fdatasync of a sealed WAL segment failed", errno: errno)
            }
            close(fd)
        }
        if failure == nil, let fd = job.current, io.fdatasync(fd) != 0 {
            failure = StorageError(.io, path: job.currentPath ?? directory, "fdatasync of the WAL failed", errno: errno)
        }
        if failure == nil && job.syncDirectory {
            do { try DurableFile.syncDirectory(containing: directory + "/segment", io: io) } catch { failure = error }
        }
        let (ready, again) = state.withLock { $0.finishSyncRound(upTo: job.target, failure: failure) }
        for waiter in ready { waiter.continuation.resume(returning: waiter.result) }
        if again { syncQueue.async { self.syncRound() } }
    }

    private static func nowMicros() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000 + Int64(time.tv_nsec) / 1_000
    }
}

/// A committer waiting for its txn to become durable.
struct WALWaiter {
    var txn: UInt64
    var continuation: CheckedContinuation<Result<Void, StorageError>, Never>
    var result: Result<Void, StorageError> = .success(())
}

struct OpenSegment {
    var fd: Int32
    var firstTxn: UInt64
    var path: String
    var size: Int
}

/// What a sync round must do, taken under the lock and carried out outside it.
struct WALSyncJob {
    var target: UInt64
    var sealed: [Int32]
    var current: Int32?
    var currentPath: String?
    var syncDirectory: Bool
}

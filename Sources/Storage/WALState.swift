#if canImport(Glibc)
import Glibc
#endif

/// The WAL's mutable state, only touched under `WriteAheadLog`'s lock.
struct WALState: ~Copyable {
    var nextTxn: UInt64
    var epoch: UInt64
    var segments: [WALSegmentInfo]
    var current: OpenSegment?
    /// Sealed segments not yet fsynced; the next sync round syncs and closes them.
    var unsyncedSealed: [Int32] = []
    /// A segment was created since the last round: its directory entry must be synced.
    var directoryUnsynced = false
    var durableTxn: UInt64
    var syncScheduled = false
    var waiters: [WALWaiter] = []
    /// Readers waiting for a txn beyond `after` to be committed.
    var commitWatchers: [CommitWatcher] = []
    var watcherIDs: UInt64 = 0
    var failure: StorageError?
    var syncRounds = 0
    /// Reused encoding buffer: one record at a time, no allocation per append once warm.
    var encodeBuffer: [UInt8] = []
    /// Purged segments kept for reuse, oldest first (`WriteAheadLog.purge`).
    var spares: [String] = []
    let io: StorageIO

    init(nextTxn: UInt64, epoch: UInt64, segments: [WALSegmentInfo], io: StorageIO) {
        self.io = io
        self.nextTxn = nextTxn
        self.epoch = epoch
        self.segments = segments
        // What recovery found on disk is durable: it survived whatever ended the last run.
        self.durableTxn = nextTxn - 1
    }

    /// Appends a record whose payload is the concatenation of `payload`'s pieces; `replicating`
    /// is the verified header it arrived with from a primary (same txn, kind, epoch, commit
    /// time and payload), whose checksum is carried over rather than computed again.
    mutating func append(
        kind: WALRecordKind, epoch: UInt64, payload: [UnsafeRawBufferPointer], commitTimeMicros: Int64,
        directory: String, segmentSizeBytes: Int, replicating: WALRecordHeader? = nil
    ) throws(StorageError) -> WALPosition {
        if let failure {
            throw StorageError(.notWritable, path: directory, "the WAL refuses writes after an earlier failure: \(failure)")
        }
        precondition(epoch >= self.epoch, "WAL epochs never go back (\(epoch) after \(self.epoch))")
        if current == nil || current!.size >= segmentSizeBytes {
            try startSegment(directory: directory, epoch: epoch, sizeBytes: segmentSizeBytes)
        }
        let txn = nextTxn
        let payloadBytes = payload.reduce(0) { $0 + $1.count }
        encodeBuffer.removeAll(keepingCapacity: true)
        if let replicating {
            precondition(replicating.txn == txn && replicating.payloadLength == payloadBytes,
                         "a replicated header must describe the record appended")
            WALRecordCodec.encodeHeader(replicating: replicating, durableTxn: durableTxn, into: &encodeBuffer)
        } else {
            WALRecordCodec.encodeHeader(
                kind: kind, txn: txn, epoch: epoch, commitTimeMicros: commitTimeMicros, payload: payload,
                durableTxn: durableTxn, into: &encodeBuffer)
        }
        // A large payload is written from where its pieces are, after its header: copying a
        // batch's megabytes behind the header would cost a pass over them under the WAL's
        // lock. A small one joins the header, saving system calls.
        let apart = payloadBytes > Self.maxCopiedPayloadBytes
        if !apart { for piece in payload { encodeBuffer.append(contentsOf: piece) } }
        let recordBytes = apart ? encodeBuffer.count + payloadBytes : encodeBuffer.count
        var segment = current!
        do throws(StorageError) {
            try writeAll(segment.fd, encodeBuffer, at: segment.size, path: segment.path)
            if apart {
                var offset = segment.size + encodeBuffer.count
                for piece in payload {
                    try writeAll(segment.fd, piece, at: offset, path: segment.path)
                    offset += piece.count
                }
            }
        } catch {
            // A partial record must not stay behind the last good one. If it cannot be cut
            // off, the log's end is unknown and it refuses writes from now on.
            if io.ftruncate(segment.fd, segment.size) != 0 {
                failure = StorageError(.io, path: segment.path, "cannot cut a failed write off the WAL", errno: errno)
                StorageMetrics.unhandledError()
            }
            throw error
        }
        segment.size += recordBytes
        current = segment
        nextTxn += 1
        self.epoch = epoch
        segments[segments.count - 1].lastTxn = txn
        segments[segments.count - 1].sizeBytes = segment.size
        return WALPosition(txn: txn, segmentFirstTxn: segment.firstTxn, endOffset: segment.size)
    }

    /// Seals the current segment (if any) and starts the next, named by the next txn: a spare
    /// renamed when there is one (decision 0030), else a new file.
    private mutating func startSegment(directory: String, epoch: UInt64, sizeBytes: Int) throws(StorageError) {
        // A reused file may run on past the last record with the records of its former life:
        // they are cut off before the segment is sealed, so a sealed segment is exactly its
        // records. The cut is synced with the segment, before any later record can be.
        if let sealed = current, io.ftruncate(sealed.fd, sealed.size) != 0 {
            throw StorageError(.io, path: sealed.path, "cannot cut a WAL segment to its records before sealing it", errno: errno)
        }
        let path = directory + "/" + WALSegmentFiles.name(firstTxn: nextTxn)
        var fd = try reuseSpare(as: path) ?? -1
        if fd < 0 {
            fd = io.create(path, O_WRONLY | O_EXCL, 0o644)
            if fd < 0 { throw StorageError(.io, path: path, "cannot create a WAL segment", errno: errno) }
            // A new file gets its blocks at once, its length unchanged (decision 0046): appends
            // — on the commit path — then find them in place, as in a reused one. Sealing cuts
            // what a segment did not fill. A failure only loses the hint.
            _ = io.preallocate?(fd, 0, sizeBytes)
        }
        let header = WALSegmentHeader(firstTxn: nextTxn, epoch: epoch).encoded()
        do throws(StorageError) {
            try writeAll(fd, header, at: 0, path: path)
        } catch {
            close(fd)
            _ = io.unlink(path)
            throw error
        }
        if let sealed = current { unsyncedSealed.append(sealed.fd) }
        current = OpenSegment(fd: fd, firstTxn: nextTxn, path: path, size: header.count)
        segments.append(WALSegmentInfo(path: path, firstTxn: nextTxn, lastTxn: nextTxn - 1, sizeBytes: header.count))
        directoryUnsynced = true
    }

    /// Renames the oldest spare to `path` and opens it for writing; nil when there is no spare
    /// (or it cannot be used: it is removed and a new file is made instead).
    private mutating func reuseSpare(as path: String) throws(StorageError) -> Int32? {
        while !spares.isEmpty {
            let spare = spares.removeFirst()
            guard io.rename(spare, path) == 0 else {
                _ = io.unlink(spare)
                continue
            }
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            if fd >= 0 { return fd }
            let failure = StorageError(.io, path: path, "cannot open a reused WAL segment", errno: errno)
            _ = io.unlink(path)
            throw failure
        }
        return nil
    }

    static let maxCopiedPayloadBytes = 64 << 10

    /// Marks a round as scheduled; true when the caller must start it.
    mutating func claimSyncRound() -> Bool {
        guard !syncScheduled else { return false }
        syncScheduled = true
        return true
    }

    mutating func takeSyncJob() -> WALSyncJob {
        let job = WALSyncJob(
            target: nextTxn - 1, sealed: unsyncedSealed, current: current?.fd, currentPath: current?.path,
            syncDirectory: directoryUnsynced)
        unsyncedSealed = []
        directoryUnsynced = false
        syncRounds += 1
        return job
    }

    /// Records the round's outcome; returns the waiters to release and whether to go again.
    mutating func finishSyncRound(upTo target: UInt64, failure roundFailure: StorageError?) -> ([WALWaiter], Bool) {
        if let roundFailure {
            if failure == nil { StorageMetrics.unhandledError() }
            failure = failure ?? roundFailure
        }
        if let failure {
            let failed = waiters.map { waiter in
                var waiter = waiter
                waiter.result = .failure(failure)
                return waiter
            }
            waiters = []
            syncScheduled = false
            return (failed, false)
        }
        durableTxn = max(durableTxn, target)
        releaseWatchers(committedTxn: durableTxn)
        var ready: [WALWaiter] = []
        var remaining: [WALWaiter] = []
        for waiter in waiters {
            if waiter.txn <= durableTxn { ready.append(waiter) } else { remaining.append(waiter) }
        }
        waiters = remaining
        syncScheduled = !remaining.isEmpty
        return (ready, syncScheduled)
    }

    /// Resumes readers waiting for anything up to `committedTxn`.
    mutating func releaseWatchers(committedTxn: UInt64) {
        guard !commitWatchers.isEmpty else { return }
        var remaining: [CommitWatcher] = []
        for watcher in commitWatchers {
            // Resuming under the lock is safe: a continuation's resume only enqueues its task.
            if watcher.after < committedTxn { watcher.continuation.resume(returning: true) } else { remaining.append(watcher) }
        }
        commitWatchers = remaining
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws(StorageError) {
        try bytes.withUnsafeBytes { raw in
            Result { () throws(StorageError) in try writeAll(fd, raw, at: offset, path: path) }
        }.get()
    }

    private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String) throws(StorageError) {
        var written = 0
        while written < bytes.count {
            let count = io.pwrite(fd, UnsafeRawBufferPointer(rebasing: bytes[written...]), offset + written)
            if count < 0 {
                if errno == EINTR { continue }
                throw StorageError(.io, path: path, "WAL write failed", errno: errno)
            }
            written += count
        }
    }
}

/// A reader waiting for a txn beyond `after` to be committed (true) or for its timeout (false).
struct CommitWatcher {
    var id: UInt64
    var after: UInt64
    var continuation: CheckedContinuation<Bool, Never>
}

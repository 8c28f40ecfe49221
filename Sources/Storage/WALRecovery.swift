#if canImport(Glibc)
import Glibc
#endif

/// Scans the WAL directory on open: verifies every segment and record, cuts a torn tail, and
/// refuses (with file, offset and txn) damage to acknowledged data.
///
/// At the first anomaly — an incomplete or damaged record, a segment header that never made
/// it to disk, or a gap before the next segment — recovery looks for proof that the missing
/// txn had been durable: a valid later record (in the same or a later segment) appended when
/// it already was (each record's unsynced depth says so). With proof, acknowledged data is
/// damaged and the log refuses to open. Without, this is what power loss leaves (later
/// unsynced writes, even a new segment, can reach the disk before earlier ones); nothing from
/// there on was ever acknowledged, and it is cut: the segment truncated, later ones removed.
package struct WALRecovery {
    package struct Result: Sendable {
        package var segments: [WALSegmentInfo]
        /// The txn the next append gets; `nil` when the log holds no record and no segment.
        package var nextTxn: UInt64?
        package var lastEpoch: UInt64
        /// Bytes cut off as a torn tail (including removed segments), 0 when clean.
        package var truncatedBytes: Int
    }

    private let directory: String
    private let maxRecordBytes: Int
    private let io: StorageIO

    package init(directory: String, maxRecordBytes: Int, io: StorageIO) {
        self.directory = directory
        self.maxRecordBytes = maxRecordBytes
        self.io = io
    }

    /// `obsoleteThrough`: every table has checkpointed past this txn, so segments holding
    /// nothing later are garbage.
    package func run(segmentSizeBytes: Int, obsoleteThrough: UInt64 = 0) throws(StorageError) -> Result {
        let files = try WALSegmentFiles.list(directory)
        var result = Result(segments: [], nextTxn: nil, lastEpoch: 0, truncatedBytes: 0)
        let readCap = max(segmentSizeBytes + maxRecordBytes + WALRecordHeader.size + WALSegmentHeader.size, 1 << 20)
        for (index, file) in files.enumerated() {
            // A purge removes old segments with one directory fsync at the end; a power loss
            // before it can bring back any subset of them — an older file while a newer one
            // stays gone. A gap right after segments no table needs any more is that: drop them
            // again. (Intact or damaged, segments without a gap are judged as usual.)
            if let previous = result.segments.last, file.firstTxn > previous.lastTxn + 1, previous.lastTxn <= obsoleteThrough {
                for segment in result.segments { _ = io.unlink(segment.path) }
                result.segments = []
                result.nextTxn = nil
            }
            guard let bytes = try DurableFile.read(file.path, maxBytes: readCap) else { continue }
            let previous = result.segments.last
            let lastEpoch = result.lastEpoch
            let outcome = try bytes.withUnsafeBytes { raw in
                Swift.Result { () throws(StorageError) in
                    try scan(raw, file: file, previous: previous, lastEpoch: lastEpoch)
                }
            }.get()
            switch outcome {
            case .clean(let scanned):
                result.segments.append(scanned.info)
                result.lastEpoch = scanned.lastEpoch
                result.nextTxn = scanned.info.lastTxn + 1
            case .anomaly(let anomaly):
                let later = Array(files[(index + 1)...])
                if try durableRecordFollows(anomaly, in: bytes, laterFiles: later, readCap: readCap) {
                    throw StorageError(
                        .corrupt, path: file.path,
                        "the record at byte \(anomaly.offset) (txn \(anomaly.missingTxn) expected) \(anomaly.reason), "
                            + "although later records were written after it was durable; the log refuses writes until it is repaired")
                }
                try cutTornTail(anomaly, file: file, size: bytes.count, later: later, into: &result)
                return result
            }
        }
        return result
    }

    // MARK: Scanning one segment

    private struct ScannedSegment {
        var info: WALSegmentInfo
        var lastEpoch: UInt64
    }

    /// Where the log stops being intact.
    private struct Anomaly {
        /// The segment's intact part, or `nil` when the whole segment goes (no valid header,
        /// or a gap before it).
        var intact: ScannedSegment?
        var offset: Int
        var missingTxn: UInt64
        var reason: String
    }

    private enum Outcome {
        case clean(ScannedSegment)
        case anomaly(Anomaly)
    }

    private func scan(
        _ bytes: UnsafeRawBufferPointer, file: (firstTxn: UInt64, path: String), previous: WALSegmentInfo?,
        lastEpoch: UInt64
    ) throws(StorageError) -> Outcome {
        let expectedFirst = previous.map { $0.lastTxn + 1 } ?? file.firstTxn
        let header: WALSegmentHeader
        switch WALSegmentHeader.decode(bytes) {
        case .success(let decoded): header = decoded
        case .failure(let invalid):
            return .anomaly(Anomaly(intact: nil, offset: 0, missingTxn: expectedFirst, reason: "is in a segment whose header \(invalid.reason)"))
        }
        guard header.firstTxn == file.firstTxn else {
            // A reused segment (decision 0030) renamed before its new header reached the disk:
            // no record in it was synced, since a sync would have carried the header too.
            if header.firstTxn < file.firstTxn {
                return .anomaly(Anomaly(
                    intact: nil, offset: 0, missingTxn: expectedFirst,
                    reason: "is in a reused segment whose new header never reached the disk"))
            }
            throw StorageError(.corrupt, path: file.path, "segment header names first txn \(header.firstTxn), the file name \(file.firstTxn)")
        }
        if let previous, header.firstTxn != previous.lastTxn + 1 {
            guard header.firstTxn > previous.lastTxn + 1 else {
                throw StorageError(
                    .corrupt, path: file.path,
                    "segment starts at txn \(header.firstTxn) but the previous one already holds txns to \(previous.lastTxn)")
            }
            return .anomaly(Anomaly(
                intact: nil, offset: 0, missingTxn: previous.lastTxn + 1,
                reason: "is missing: the segment starts at txn \(header.firstTxn), transactions are missing"))
        }
        var offset = WALSegmentHeader.size
        var expected = header.firstTxn
        var epoch = max(lastEpoch, header.epoch)
        scanning: while offset < bytes.count {
            let failure: String
            switch WALRecordCodec.decode(bytes, at: offset, maxPayloadBytes: maxRecordBytes) {
            case .success(let record):
                // A reused segment keeps its former records past the new ones; they are older
                // than any txn the segment can hold, and the segment ends where they begin.
                if record.txn < header.firstTxn { break scanning }
                guard record.txn == expected else {
                    throw damage(file.path, offset, expected, "holds txn \(record.txn)")
                }
                guard record.epoch >= epoch else {
                    throw damage(file.path, offset, expected, "has epoch \(record.epoch), older than \(epoch) before it")
                }
                epoch = record.epoch
                expected += 1
                offset += record.recordSize
                continue
            case .failure(.incomplete): failure = "is incomplete"
            case .failure(.zeroes): failure = "is missing (zeroes)"
            case .failure(.damaged(let reason)): failure = "is damaged (\(reason))"
            }
            let intact = ScannedSegment(
                info: WALSegmentInfo(path: file.path, firstTxn: header.firstTxn, lastTxn: expected - 1, sizeBytes: offset),
                lastEpoch: epoch)
            return .anomaly(Anomaly(intact: intact, offset: offset, missingTxn: expected, reason: failure))
        }
        let info = WALSegmentInfo(path: file.path, firstTxn: header.firstTxn, lastTxn: expected - 1, sizeBytes: offset)
        return .clean(ScannedSegment(info: info, lastEpoch: epoch))
    }

    private func damage(_ path: String, _ offset: Int, _ txn: UInt64, _ what: String) -> StorageError {
        StorageError(
            .corrupt, path: path,
            "the record at byte \(offset) (txn \(txn) expected) \(what); the log refuses writes until it is repaired")
    }

    // MARK: Torn tail or damage

    /// Whether a valid record after the anomaly was appended when the missing txn was durable.
    private func durableRecordFollows(
        _ anomaly: Anomaly, in bytes: [UInt8], laterFiles: [(firstTxn: UInt64, path: String)], readCap: Int
    ) throws(StorageError) -> Bool {
        let inThisSegment = bytes.withUnsafeBytes { raw in
            provesDurable(raw, from: anomaly.offset + 1, missingTxn: anomaly.missingTxn)
        }
        if inThisSegment { return true }
        for file in laterFiles {
            guard let later = try DurableFile.read(file.path, maxBytes: readCap) else { continue }
            if later.withUnsafeBytes({ provesDurable($0, from: 0, missingTxn: anomaly.missingTxn) }) { return true }
        }
        return false
    }

    private func provesDurable(_ bytes: UnsafeRawBufferPointer, from start: Int, missingTxn: UInt64) -> Bool {
        var candidate = start
        while candidate + WALRecordHeader.size <= bytes.count {
            if bytes.loadLittleEndian(fromByteOffset: candidate, as: UInt32.self) == WALRecordHeader.magic,
               case .success(let record) = WALRecordCodec.decode(bytes, at: candidate, maxPayloadBytes: maxRecordBytes),
               record.durableWhenAppended >= missingTxn
            {
                return true
            }
            candidate += 1
        }
        return false
    }

    /// Cuts the log at the anomaly: the segment truncated there (or removed), later ones removed.
    private func cutTornTail(
        _ anomaly: Anomaly, file: (firstTxn: UInt64, path: String), size: Int,
        later: [(firstTxn: UInt64, path: String)], into result: inout Result
    ) throws(StorageError) {
        // Newest first, each removal made durable before the next: whatever a crash in the
        // middle leaves (or a power loss undoes) is a shorter log this recovery cuts the same way.
        for segment in later.reversed() {
            result.truncatedBytes += ColumnFiles.size(segment.path) ?? 0
            try remove(segment.path)
        }
        if let intact = anomaly.intact {
            try truncate(file.path, to: anomaly.offset)
            result.truncatedBytes += size - anomaly.offset
            result.segments.append(intact.info)
            result.lastEpoch = intact.lastEpoch
            result.nextTxn = intact.info.lastTxn + 1
        } else {
            result.truncatedBytes += size
            try remove(file.path)
        }
    }

    private func truncate(_ path: String, to length: Int) throws(StorageError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        if fd < 0 { throw StorageError(.io, path: path, "cannot open to cut a torn tail", errno: errno) }
        defer { close(fd) }
        if io.ftruncate(fd, length) != 0 || io.fdatasync(fd) != 0 {
            throw StorageError(.io, path: path, "cannot cut a torn tail at byte \(length)", errno: errno)
        }
    }

    private func remove(_ path: String) throws(StorageError) {
        if io.unlink(path) != 0 && errno != ENOENT {
            throw StorageError(.io, path: path, "cannot remove a torn WAL segment", errno: errno)
        }
        try DurableFile.syncDirectory(containing: path, io: io)
    }
}

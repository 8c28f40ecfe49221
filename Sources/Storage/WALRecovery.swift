#if canImport(Glibc)
import Glibc
#endif

/// Scans the WAL directory on open: verifies every segment and record, truncates a torn tail
/// of the last segment, and refuses (with file, offset and txn) damage anywhere else.
///
/// A damaged record in the last segment counts as a torn tail unless a valid record after it
/// was appended when the damaged one was already durable (its unsynced depth says so): then
/// acknowledged data is damaged, and cutting there would silently drop it.
package struct WALRecovery {
    package struct Result: Sendable {
        package var segments: [WALSegmentInfo]
        /// The txn the next append gets; `nil` when the log holds no record and no segment.
        package var nextTxn: UInt64?
        package var lastEpoch: UInt64
        /// Bytes cut from the tail of the last segment (a torn write), 0 when clean.
        package var truncatedBytes: Int
    }

    private let directory: String
    private let maxRecordBytes: Int

    package init(directory: String, maxRecordBytes: Int) {
        self.directory = directory
        self.maxRecordBytes = maxRecordBytes
    }

    package func run(segmentSizeBytes: Int) throws(StorageError) -> Result {
        var files = try WALSegmentFiles.list(directory)
        var result = Result(segments: [], nextTxn: nil, lastEpoch: 0, truncatedBytes: 0)
        let readCap = segmentSizeBytes + maxRecordBytes + WALRecordHeader.size + WALSegmentHeader.size
        while let file = files.first {
            files.removeFirst()
            let isLast = files.isEmpty
            guard let bytes = try DurableFile.read(file.path, maxBytes: max(readCap, 1 << 20)) else { continue }
            let previous = result.segments.last
            let lastEpoch = result.lastEpoch
            let scanned = try bytes.withUnsafeBytes { raw in
                Swift.Result { () throws(StorageError) in
                    try scan(raw, file: file, isLast: isLast, previous: previous, lastEpoch: lastEpoch)
                }
            }.get()
            guard let scanned else {
                // A segment whose creation was cut short before its header was written.
                try removeIncompleteSegment(file.path)
                continue
            }
            if let cut = scanned.truncateAt {
                try truncate(file.path, to: cut)
                result.truncatedBytes = bytes.count - cut
            }
            result.segments.append(scanned.info)
            result.lastEpoch = scanned.lastEpoch
            result.nextTxn = scanned.info.lastTxn + 1
        }
        return result
    }

    private struct ScannedSegment {
        var info: WALSegmentInfo
        var lastEpoch: UInt64
        var truncateAt: Int?
    }

    private func scan(
        _ bytes: UnsafeRawBufferPointer, file: (firstTxn: UInt64, path: String), isLast: Bool,
        previous: WALSegmentInfo?, lastEpoch: UInt64
    ) throws(StorageError) -> ScannedSegment? {
        let header: WALSegmentHeader
        switch WALSegmentHeader.decode(bytes) {
        case .success(let decoded): header = decoded
        case .failure(let invalid):
            if isLast && (bytes.count < WALSegmentHeader.size || bytes.allSatisfy { $0 == 0 }) { return nil }
            throw StorageError(.corrupt, path: file.path, invalid.reason)
        }
        guard header.firstTxn == file.firstTxn else {
            throw StorageError(.corrupt, path: file.path, "segment header names first txn \(header.firstTxn), the file name \(file.firstTxn)")
        }
        if let previous, header.firstTxn != previous.lastTxn + 1 {
            throw StorageError(
                .corrupt, path: file.path,
                "segment starts at txn \(header.firstTxn) but the previous one ends at txn \(previous.lastTxn): transactions are missing")
        }
        var offset = WALSegmentHeader.size
        var expected = header.firstTxn
        var epoch = max(lastEpoch, header.epoch)
        var truncateAt: Int?
        while offset < bytes.count {
            switch WALRecordCodec.decode(bytes, at: offset, maxPayloadBytes: maxRecordBytes) {
            case .success(let record):
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
            case .failure(.incomplete), .failure(.zeroes):
                guard isLast else { throw damage(file.path, offset, expected, "is incomplete but later segments exist") }
            case .failure(.damaged(let reason)):
                guard isLast else { throw damage(file.path, offset, expected, "is damaged (\(reason))") }
                if durableRecordFollows(bytes, after: offset, damagedTxn: expected) {
                    throw damage(
                        file.path, offset, expected,
                        "is damaged (\(reason)) although later records were written after it was durable")
                }
            }
            truncateAt = offset
            break
        }
        let info = WALSegmentInfo(
            path: file.path, firstTxn: header.firstTxn, lastTxn: expected - 1, sizeBytes: truncateAt ?? bytes.count)
        return ScannedSegment(info: info, lastEpoch: epoch, truncateAt: truncateAt)
    }

    private func damage(_ path: String, _ offset: Int, _ txn: UInt64, _ what: String) -> StorageError {
        StorageError(
            .corrupt, path: path,
            "the record at byte \(offset) (txn \(txn) expected) \(what); the log refuses writes until it is repaired")
    }

    /// Whether a valid record after `offset` was appended when `damagedTxn` was already
    /// durable — proof that the damaged record had been acknowledged.
    private func durableRecordFollows(_ bytes: UnsafeRawBufferPointer, after offset: Int, damagedTxn: UInt64) -> Bool {
        var candidate = offset + 1
        while candidate + WALRecordHeader.size <= bytes.count {
            if bytes.loadLittleEndian(fromByteOffset: candidate, as: UInt32.self) == WALRecordHeader.magic,
               case .success(let record) = WALRecordCodec.decode(bytes, at: candidate, maxPayloadBytes: maxRecordBytes),
               record.txn > damagedTxn, record.durableWhenAppended >= damagedTxn
            {
                return true
            }
            candidate += 1
        }
        return false
    }

    private func truncate(_ path: String, to length: Int) throws(StorageError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        if fd < 0 { throw StorageError(.io, path: path, "cannot open to cut a torn tail", errno: errno) }
        defer { close(fd) }
        if ftruncate(fd, off_t(length)) != 0 || fsync(fd) != 0 {
            throw StorageError(.io, path: path, "cannot cut a torn tail at byte \(length)", errno: errno)
        }
    }

    private func removeIncompleteSegment(_ path: String) throws(StorageError) {
        if unlink(path) != 0 { throw StorageError(.io, path: path, "cannot remove an incomplete segment", errno: errno) }
        try DurableFile.syncDirectory(containing: path)
    }
}

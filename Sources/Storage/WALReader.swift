#if canImport(Glibc)
import Glibc
#endif

/// A committed WAL record as a reader sees it.
package struct WALRecord: Sendable {
    package var header: WALRecordHeader
    package var payload: [UInt8]
    package var position: WALPosition

    package var txn: UInt64 { header.txn }
}

/// Reads committed records in txn order across segments, verifying each checksum again:
/// the applier and replication's shipper use it. One reader per consumer; not thread-safe.
package final class WALReader {
    private let log: WriteAheadLog
    private var segment: (info: WALSegmentInfo, fd: Int32)?
    private var offset = 0
    /// The txn `next()` returns next.
    package private(set) var nextTxn: UInt64
    private var headerBytes = [UInt8](repeating: 0, count: WALRecordHeader.size)

    /// A reader positioned at `txn` (at most the log's next txn); throws `limitExceeded` when
    /// `txn` was purged (replication answers SNAPSHOT_REQUIRED), `.corrupt`/`.io` otherwise.
    package init(log: WriteAheadLog, from txn: UInt64) throws(StorageError) {
        self.log = log
        self.nextTxn = txn
        try seek(to: txn)
    }

    deinit {
        if let segment { close(segment.fd) }
    }

    /// The next committed record, or `nil` when the reader has reached the committed end.
    package func next() throws(StorageError) -> WALRecord? {
        guard let current = try advance() else { return nil }
        let header = try readHeader(current)
        // The payload is read straight into its own array, left uninitialized until then: one
        // copy from the page cache and no zeroing pass before it.
        var failure: StorageError?
        let payload = [UInt8](unsafeUninitializedCapacity: header.payloadLength) { buffer, initialized in
            do throws(StorageError) {
                try readPayload(current, header: header, into: UnsafeMutableRawBufferPointer(buffer))
                initialized = header.payloadLength
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        return WALRecord(
            header: header, payload: payload,
            position: WALPosition(txn: header.txn, segmentFirstTxn: current.info.firstTxn, endOffset: offset))
    }

    /// Appends the next committed record, header and payload exactly as stored, to `output`
    /// and returns its header; `nil` at the committed end. Replication ships these bytes.
    package func next(appendingTo output: inout [UInt8]) throws(StorageError) -> WALRecordHeader? {
        guard let current = try advance() else { return nil }
        let header = try readHeader(current)
        let start = output.count
        output.append(contentsOf: headerBytes)
        output.append(contentsOf: repeatElement(0, count: header.payloadLength))
        do throws(StorageError) {
            try output.withUnsafeMutableBytes { raw in
                Result { () throws(StorageError) in
                    try readPayload(
                        current, header: header,
                        into: UnsafeMutableRawBufferPointer(rebasing: raw[(start + WALRecordHeader.size)...]))
                }
            }.get()
        } catch {
            output.removeSubrange(start...)
            throw error
        }
        return header
    }

    /// Moves past committed records up to `txn` reading only their headers (replication skips
    /// records another replica's chunk already carries).
    package func skip(through txn: UInt64) throws(StorageError) {
        while nextTxn <= txn {
            guard let current = try advance() else {
                throw StorageError(.limitExceeded, path: log.directory, "cannot skip to txn \(txn): it is not committed")
            }
            let header = try readHeader(current)
            offset += header.recordSize
            nextTxn += 1
        }
    }

    /// Positions the reader on the segment holding `nextTxn`; `nil` at the committed end.
    private func advance() throws(StorageError) -> (info: WALSegmentInfo, fd: Int32)? {
        guard nextTxn <= log.committedTxn else { return nil }
        if segment == nil {
            guard try openSegment(containing: nextTxn) else { return nil }
        }
        while var current = segment {
            // The cached segment info is refreshed (a lock and a copy) only when it says the
            // segment is exhausted: the log may have appended to it since.
            if !(nextTxn <= current.info.lastTxn && offset < current.info.sizeBytes), let latest = refreshedSegment() {
                current = latest
            }
            if nextTxn <= current.info.lastTxn && offset < current.info.sizeBytes { return current }
            // This segment is exhausted: the record lives in a later one, if it exists yet.
            let segments = log.segments
            guard let later = segments.first(where: { $0.firstTxn == nextTxn }) else {
                if let first = segments.first, nextTxn < first.firstTxn {
                    throw StorageError(
                        .limitExceeded, path: log.directory,
                        "txn \(nextTxn) was purged from the WAL while this reader still needed it")
                }
                return nil
            }
            _ = try openSegment(containing: later.firstTxn)
        }
        return nil
    }

    private func readHeader(_ current: (info: WALSegmentInfo, fd: Int32)) throws(StorageError) -> WALRecordHeader {
        let path = current.info.path
        do {
            try readExactly(current.fd, into: &headerBytes, at: offset, path: path)
        } catch where error.code == .corrupt {
            throw failure(current, error.message)
        }
        let decoded = headerBytes.withUnsafeBytes {
            WALRecordCodec.decodeHeader($0, maxPayloadBytes: log.configuration.maxRecordBytes)
        }
        guard case .success(let header) = decoded, header.txn == nextTxn else {
            throw failure(current, "record at byte \(offset) (txn \(nextTxn)) fails verification on read")
        }
        return header
    }

    /// Reads the payload of the record whose header was just read, verifies the checksum and
    /// moves past the record.
    private func readPayload(
        _ current: (info: WALSegmentInfo, fd: Int32), header: WALRecordHeader, into payload: UnsafeMutableRawBufferPointer
    ) throws(StorageError) {
        let path = current.info.path
        do {
            try readExactly(current.fd, into: payload, at: offset + WALRecordHeader.size, path: path)
        } catch where error.code == .corrupt {
            throw failure(current, error.message)
        }
        let intact = headerBytes.withUnsafeBytes { headerBytes in
            WALRecordCodec.checksumMatches(header, headerBytes: headerBytes, payload: UnsafeRawBufferPointer(payload))
        }
        guard intact else {
            throw failure(current, "record at byte \(offset) (txn \(nextTxn)) fails its checksum on read")
        }
        offset += header.recordSize
        nextTxn += 1
    }

    /// A record that fails verification: damage, unless its segment was purged while this
    /// reader was in it — a purged segment may be reused and overwritten (decision 0030), so
    /// that reader learns its records are gone, as one that had not started reading them would.
    private func failure(_ current: (info: WALSegmentInfo, fd: Int32), _ message: String) -> StorageError {
        if !log.segments.contains(where: { $0.firstTxn == current.info.firstTxn }) {
            return StorageError(.limitExceeded, path: log.directory, "txn \(nextTxn) was purged from the WAL while this reader still needed it")
        }
        return StorageError(.corrupt, path: current.info.path, message)
    }

    /// Opens the segment holding `txn` and walks its headers to the record.
    private func seek(to txn: UInt64) throws(StorageError) {
        let segments = log.segments
        if let first = segments.first, txn < first.firstTxn {
            throw StorageError(
                .limitExceeded, path: log.directory,
                "txn \(txn) is no longer in the WAL (the oldest segment starts at txn \(first.firstTxn))")
        }
        guard try openSegment(containing: txn), let current = segment else { return }
        while nextTxn < txn && nextTxn <= current.info.lastTxn {
            try readExactly(current.fd, into: &headerBytes, at: offset, path: current.info.path)
            let length = headerBytes.withUnsafeBytes { Int($0.loadLittleEndian(fromByteOffset: 8, as: UInt32.self)) }
            offset += WALRecordHeader.size + length
            nextTxn += 1
        }
        guard nextTxn == txn else {
            throw StorageError(.limitExceeded, path: log.directory, "txn \(txn) is beyond the end of the WAL")
        }
    }

    /// Switches to the segment whose range holds `txn`; false when it does not exist yet.
    private func openSegment(containing txn: UInt64) throws(StorageError) -> Bool {
        let segments = log.segments
        guard let info = segments.last(where: { $0.firstTxn <= txn }) else { return false }
        if let current = segment, current.info.firstTxn == info.firstTxn {
            segment = (info, current.fd)
            return txn <= info.lastTxn
        }
        let fd = open(info.path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw StorageError(.io, path: info.path, "cannot open WAL segment for reading", errno: errno) }
        if let current = segment { close(current.fd) }
        segment = (info, fd)
        offset = WALSegmentHeader.size
        nextTxn = info.firstTxn
        return true
    }

    /// The current segment with its latest size and last txn (the log appends to it).
    private func refreshedSegment() -> (info: WALSegmentInfo, fd: Int32)? {
        guard let current = segment else { return nil }
        if let latest = log.segments.first(where: { $0.firstTxn == current.info.firstTxn }) {
            segment = (latest, current.fd)
        }
        return segment
    }

    private func readExactly(_ fd: Int32, into buffer: inout [UInt8], at position: Int, path: String) throws(StorageError) {
        try buffer.withUnsafeMutableBytes { raw in
            Result { () throws(StorageError) in try readExactly(fd, into: raw, at: position, path: path) }
        }.get()
    }

    private func readExactly(
        _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at position: Int, path: String
    ) throws(StorageError) {
        var done = 0
        while done < buffer.count {
            let count = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(position + done))
            if count < 0 {
                if errno == EINTR { continue }
                throw StorageError(.io, path: path, "WAL read failed", errno: errno)
            }
            if count == 0 { throw StorageError(.corrupt, path: path, "WAL segment ends inside a record at byte \(position)") }
            done += count
        }
    }
}

/// One WAL record: one transaction (a row batch for one table, or a structural event).
///
/// Layout (little-endian), `headerSize` bytes then the payload:
/// ```
///  0 magic u32 "SDWR"   4 version u16   6 kind u16   8 payload length u32   12 unsynced depth u32
/// 16 txn u64           24 epoch u64     32 commit time µs i64               40 CRC32C u32
/// ```
/// The CRC covers bytes 0..<40 and the payload, so a flipped txn or length is caught too.
///
/// The unsynced depth is how many txns back the last completed fsync was when this record was
/// appended (`txn - durable txn`, saturating). Recovery uses it to tell a torn tail from
/// damage: a damaged record followed by valid ones is a torn tail if none of those was written
/// after the damaged one was already durable (power loss can persist later writes before
/// earlier unsynced ones), and damage to acknowledged data otherwise.
package struct WALRecordHeader: Sendable, Equatable {
    package static let magic: UInt32 = 0x5257_4453  // "SDWR" little-endian
    package static let formatVersion: UInt16 = 1
    package static let size = 44

    package var kind: WALRecordKind
    package var payloadLength: Int
    package var txn: UInt64
    package var epoch: UInt64
    package var commitTimeMicros: Int64
    package var checksum: UInt32
    /// `txn` minus the durable txn when the record was appended (saturating at UInt32.max).
    package var unsyncedDepth: UInt32 = 0

    /// The highest txn known durable when this record was appended.
    package var durableWhenAppended: UInt64 { txn >= UInt64(unsyncedDepth) ? txn - UInt64(unsyncedDepth) : 0 }

    /// Total bytes of the record on disk.
    package var recordSize: Int { WALRecordHeader.size + payloadLength }
}

/// What a WAL record holds. Raw values are persistent: never renumber.
package struct WALRecordKind: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    package var rawValue: UInt16
    package init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Rows for one table (columnar batch).
    package static let rowBatch = WALRecordKind(rawValue: 1)
    /// A structural change: create/drop/rename/truncate table, column changes, partitions.
    package static let schemaChange = WALRecordKind(rawValue: 2)
    /// The node moved to a new epoch (promotion); payload empty.
    package static let epochChange = WALRecordKind(rawValue: 3)
    /// Row batches for several tables committed as one transaction (`RowBatchCodec.encodeGroup`).
    package static let rowBatchGroup = WALRecordKind(rawValue: 4)
    /// An UPDATE: replacement rows of one table and the rows they replace (`RowUpdate`).
    package static let rowUpdate = WALRecordKind(rawValue: 5)
    /// Opaque bytes, for tests and tools.
    package static let opaque = WALRecordKind(rawValue: 0xFFFF)

    package var description: String {
        switch self {
        case .rowBatch: "rowBatch"
        case .schemaChange: "schemaChange"
        case .epochChange: "epochChange"
        case .rowBatchGroup: "rowBatchGroup"
        case .rowUpdate: "rowUpdate"
        case .opaque: "opaque"
        default: "kind\(rawValue)"
        }
    }
}

/// Encoding and validation of records, as pure functions over bytes.
package enum WALRecordCodec {
    /// Appends a whole record (header + payload) to `output`.
    package static func encode(
        kind: WALRecordKind, txn: UInt64, epoch: UInt64, commitTimeMicros: Int64,
        payload: UnsafeRawBufferPointer, durableTxn: UInt64 = 0, into output: inout [UInt8]
    ) {
        encodeHeader(
            kind: kind, txn: txn, epoch: epoch, commitTimeMicros: commitTimeMicros, payload: [payload], durableTxn: durableTxn,
            into: &output)
        output.append(contentsOf: payload)
    }

    /// Appends the header of the record whose payload is the concatenation of `payload`'s
    /// pieces (its CRC covers them), not the payload itself: the WAL writes the pieces from
    /// where they already are.
    package static func encodeHeader(
        kind: WALRecordKind, txn: UInt64, epoch: UInt64, commitTimeMicros: Int64,
        payload: [UnsafeRawBufferPointer], durableTxn: UInt64, into output: inout [UInt8]
    ) {
        let start = output.count
        appendFields(
            kind: kind, payloadLength: payload.reduce(0) { $0 + $1.count }, depth: unsyncedDepth(txn, durableTxn), txn: txn,
            epoch: epoch, commitTimeMicros: commitTimeMicros, into: &output)
        var crc = CRC32C()
        output.withUnsafeBytes { crc.update(UnsafeRawBufferPointer(rebasing: $0[start..<start + 40])) }
        for piece in payload { crc.update(piece) }
        output.appendLittleEndian(crc.value)
    }

    /// Appends the header of a verified record received from elsewhere (a primary) with this
    /// log's unsynced depth: its checksum is carried over the changed field arithmetically
    /// (`CRC32C.adjusting`) instead of being computed over the payload again. A wrong checksum
    /// stays wrong — readers verify every record.
    package static func encodeHeader(replicating header: WALRecordHeader, durableTxn: UInt64, into output: inout [UInt8]) {
        let depth = unsyncedDepth(header.txn, durableTxn)
        let checksum = withUnsafeBytes(of: header.unsyncedDepth.littleEndian) { old in
            withUnsafeBytes(of: depth.littleEndian) { new in
                CRC32C.adjusting(header.checksum, length: 40 + header.payloadLength, at: 12, from: old, to: new)
            }
        }
        appendFields(
            kind: header.kind, payloadLength: header.payloadLength, depth: depth, txn: header.txn, epoch: header.epoch,
            commitTimeMicros: header.commitTimeMicros, into: &output)
        output.appendLittleEndian(checksum)
    }

    private static func unsyncedDepth(_ txn: UInt64, _ durableTxn: UInt64) -> UInt32 {
        UInt32(clamping: txn - min(txn, durableTxn))
    }

    /// The header's bytes 0..<40, which its CRC covers with the payload.
    private static func appendFields(
        kind: WALRecordKind, payloadLength: Int, depth: UInt32, txn: UInt64, epoch: UInt64, commitTimeMicros: Int64,
        into output: inout [UInt8]
    ) {
        output.appendLittleEndian(WALRecordHeader.magic)
        output.appendLittleEndian(WALRecordHeader.formatVersion)
        output.appendLittleEndian(kind.rawValue)
        output.appendLittleEndian(UInt32(payloadLength))
        output.appendLittleEndian(depth)
        output.appendLittleEndian(txn)
        output.appendLittleEndian(epoch)
        output.appendLittleEndian(commitTimeMicros)
    }

    /// Why bytes at some offset are not a valid record.
    package enum Invalid: Error, Sendable, Equatable {
        /// Fewer bytes than a header, or than the header's payload length: the log ends here
        /// (a clean end or a torn write).
        case incomplete
        /// All header bytes are zero: preallocated or zeroed space, the log ends here.
        case zeroes
        /// Bytes are there but wrong (magic, version, length or checksum).
        case damaged(String)
    }

    /// Parses and verifies the record starting at `offset` of `bytes`.
    package static func decode(
        _ bytes: UnsafeRawBufferPointer, at offset: Int, maxPayloadBytes: Int
    ) -> Result<WALRecordHeader, Invalid> {
        let available = bytes.count - offset
        guard available >= WALRecordHeader.size else {
            return .failure(allZero(bytes, from: offset) && available > 0 ? .zeroes : .incomplete)
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + WALRecordHeader.size])
        let header: WALRecordHeader
        switch decodeHeader(headerBytes, maxPayloadBytes: maxPayloadBytes) {
        case .success(let decoded): header = decoded
        case .failure(let invalid): return .failure(invalid)
        }
        guard available >= header.recordSize else { return .failure(.incomplete) }
        let payloadStart = offset + WALRecordHeader.size
        let payload = UnsafeRawBufferPointer(rebasing: bytes[payloadStart..<payloadStart + header.payloadLength])
        guard checksumMatches(header, headerBytes: headerBytes, payload: payload) else {
            return .failure(.damaged("record checksum mismatch"))
        }
        return .success(header)
    }

    /// Parses a record header (magic, version, length bound) without its payload.
    package static func decodeHeader(
        _ bytes: UnsafeRawBufferPointer, maxPayloadBytes: Int
    ) -> Result<WALRecordHeader, Invalid> {
        precondition(bytes.count == WALRecordHeader.size, "a record header is \(WALRecordHeader.size) bytes")
        let magic = bytes.loadLittleEndian(fromByteOffset: 0, as: UInt32.self)
        guard magic == WALRecordHeader.magic else {
            if allZero(bytes, from: 0) { return .failure(.zeroes) }
            return .failure(.damaged("bad record magic"))
        }
        let version = bytes.loadLittleEndian(fromByteOffset: 4, as: UInt16.self)
        guard version == WALRecordHeader.formatVersion else {
            return .failure(.damaged("record format version \(version) is not supported"))
        }
        let length = Int(bytes.loadLittleEndian(fromByteOffset: 8, as: UInt32.self))
        guard length <= maxPayloadBytes else {
            return .failure(.damaged("record payload length \(length) exceeds the limit \(maxPayloadBytes)"))
        }
        return .success(WALRecordHeader(
            kind: WALRecordKind(rawValue: bytes.loadLittleEndian(fromByteOffset: 6, as: UInt16.self)),
            payloadLength: length,
            txn: bytes.loadLittleEndian(fromByteOffset: 16, as: UInt64.self),
            epoch: bytes.loadLittleEndian(fromByteOffset: 24, as: UInt64.self),
            commitTimeMicros: bytes.loadLittleEndian(fromByteOffset: 32, as: Int64.self),
            checksum: bytes.loadLittleEndian(fromByteOffset: 40, as: UInt32.self),
            unsyncedDepth: bytes.loadLittleEndian(fromByteOffset: 12, as: UInt32.self)))
    }

    /// Whether the stored CRC covers this header and payload.
    package static func checksumMatches(
        _ header: WALRecordHeader, headerBytes: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer
    ) -> Bool {
        var crc = CRC32C()
        crc.update(UnsafeRawBufferPointer(rebasing: headerBytes[0..<40]))
        crc.update(payload)
        return crc.value == header.checksum
    }

    private static func allZero(_ bytes: UnsafeRawBufferPointer, from offset: Int, count: Int? = nil) -> Bool {
        let end = count.map { min(bytes.count, offset + $0) } ?? bytes.count
        var index = offset
        while index < end {
            if bytes[index] != 0 { return false }
            index += 1
        }
        return true
    }
}

/// Whole WAL records back to back, each verified (`WALRecordCodec.decode`: magic, version,
/// length, checksum) when this value was made, with their headers in order: a replica appends
/// them to its WAL without parsing or checksumming them again.
package struct VerifiedWALRecords: Sendable {
    package let bytes: [UInt8]
    package let headers: [WALRecordHeader]

    /// Verifies every record of `bytes`, which must be whole records and nothing else;
    /// `check` sees each header in order (and may refuse it), `invalid` says why a record at
    /// an offset is not one.
    package static func verify<Failure: Error>(
        _ bytes: [UInt8], maxRecordBytes: Int,
        invalid: (_ offset: Int, _ reason: WALRecordCodec.Invalid) -> Failure,
        check: (_ header: WALRecordHeader, _ offset: Int) throws(Failure) -> Void = { (_, _) throws(Failure) in }
    ) throws(Failure) -> VerifiedWALRecords {
        var headers: [WALRecordHeader] = []
        let walked = bytes.withUnsafeBytes { raw in
            Result { () throws(Failure) in
                var offset = 0
                while offset < raw.count {
                    switch WALRecordCodec.decode(raw, at: offset, maxPayloadBytes: maxRecordBytes) {
                    case .success(let header):
                        try check(header, offset)
                        headers.append(header)
                        offset += header.recordSize
                    case .failure(let reason):
                        throw invalid(offset, reason)
                    }
                }
            }
        }
        try walked.get()
        return VerifiedWALRecords(bytes: bytes, headers: headers)
    }

    private init(bytes: [UInt8], headers: [WALRecordHeader]) {
        self.bytes = bytes
        self.headers = headers
    }
}

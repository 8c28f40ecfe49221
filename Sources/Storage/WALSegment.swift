#if canImport(Glibc)
import Glibc
#endif

/// A WAL segment file: `wal/<first txn, 20 digits>.wal`, a 32-byte header, then records.
///
/// Header (little-endian): magic u32 "SDWS", version u16, reserved u16, first txn u64,
/// epoch u64 at creation, reserved u32, CRC32C u32 of bytes 0..<28.
package struct WALSegmentHeader: Sendable, Equatable {
    package static let magic: UInt32 = 0x5357_4453  // "SDWS"
    package static let formatVersion: UInt16 = 1
    package static let size = 32

    package var firstTxn: UInt64
    package var epoch: UInt64

    package init(firstTxn: UInt64, epoch: UInt64) {
        self.firstTxn = firstTxn
        self.epoch = epoch
    }

    package func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(WALSegmentHeader.size)
        bytes.appendLittleEndian(WALSegmentHeader.magic)
        bytes.appendLittleEndian(WALSegmentHeader.formatVersion)
        bytes.appendLittleEndian(UInt16(0))
        bytes.appendLittleEndian(firstTxn)
        bytes.appendLittleEndian(epoch)
        bytes.appendLittleEndian(UInt32(0))
        bytes.appendLittleEndian(CRC32C.checksum(bytes))
        return bytes
    }

    /// Why bytes are not a valid segment header.
    package struct Invalid: Error, Sendable {
        package var reason: String
    }

    /// Parses a header, or says why the bytes are not a valid one.
    package static func decode(_ bytes: UnsafeRawBufferPointer) -> Result<WALSegmentHeader, Invalid> {
        guard bytes.count >= size else { return .failure(Invalid(reason: "segment header is incomplete (\(bytes.count) bytes)")) }
        guard bytes.loadLittleEndian(fromByteOffset: 0, as: UInt32.self) == magic else {
            return .failure(Invalid(reason: "not a WAL segment (bad magic)"))
        }
        let version = bytes.loadLittleEndian(fromByteOffset: 4, as: UInt16.self)
        guard version == formatVersion else { return .failure(Invalid(reason: "segment format version \(version) is not supported")) }
        let stored = bytes.loadLittleEndian(fromByteOffset: 28, as: UInt32.self)
        guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<28])) == stored else {
            return .failure(Invalid(reason: "segment header checksum mismatch"))
        }
        return .success(WALSegmentHeader(
            firstTxn: bytes.loadLittleEndian(fromByteOffset: 8, as: UInt64.self),
            epoch: bytes.loadLittleEndian(fromByteOffset: 16, as: UInt64.self)))
    }
}

/// Naming and listing of segment files, and of spare files (purged segments kept for reuse).
package enum WALSegmentFiles {
    package static let suffix = ".wal"
    package static let spareSuffix = ".spare"

    package static func name(firstTxn: UInt64) -> String {
        let digits = String(firstTxn)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    /// A purged segment kept for reuse (`WriteAheadLog.purge`); its name says where it came
    /// from, nothing more.
    package static func spareName(firstTxn: UInt64) -> String {
        String(name(firstTxn: firstTxn).dropLast(suffix.count)) + spareSuffix
    }

    /// Spare files of `directory`.
    package static func spares(_ directory: String) throws(StorageError) -> [String] {
        try ColumnFiles.entries(of: directory).filter { $0.hasSuffix(spareSuffix) }.map { directory + "/" + $0 }
    }

    /// First txn named by a segment file name, or `nil` when the name is not a segment's.
    package static func firstTxn(ofName name: String) -> UInt64? {
        guard name.hasSuffix(suffix), name.count == 20 + suffix.count else { return nil }
        let digits = name.dropLast(suffix.count)
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return UInt64(digits)
    }

    /// Segment files of `directory`, ordered by first txn.
    package static func list(_ directory: String) throws(StorageError) -> [(firstTxn: UInt64, path: String)] {
        try ColumnFiles.entries(of: directory)
            .compactMap { name in firstTxn(ofName: name).map { ($0, directory + "/" + name) } }
            .sorted { $0.firstTxn < $1.firstTxn }
    }
}

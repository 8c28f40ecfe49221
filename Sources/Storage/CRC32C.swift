import CCRC32C

/// CRC-32C (Castagnoli), the checksum of every persistent Sundial format: WAL records,
/// `_txn`, `_meta`, the node identity and replication frames.
///
/// Castagnoli rather than the zlib polynomial because it detects more error patterns in the
/// record sizes we use and because CPUs have an instruction for it (a later optimisation can
/// switch to it without changing the stored values). This is the portable slicing-by-8 form.
package struct CRC32C: Sendable {
    private var state: UInt32 = 0xFFFF_FFFF

    package init() {}

    /// The checksum of `bytes` in one call.
    package static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc = CRC32C()
        crc.update(bytes)
        return crc.value
    }

    /// The checksum of the bytes added so far.
    package var value: UInt32 { ~state }

    /// Adds `bytes` to the running checksum.
    package mutating func update(_ bytes: some Sequence<UInt8>) {
        let done: Void? = bytes.withContiguousStorageIfAvailable { buffer in
            self.update(UnsafeRawBufferPointer(buffer))
        }
        if done == nil {
            let copy = Array(bytes)
            copy.withUnsafeBytes { self.update($0) }
        }
    }

    /// Adds raw bytes to the running checksum.
    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        if CRC32C.hardware, let base = bytes.baseAddress {
            state = sundial_crc32c_update(state, base, bytes.count)
            return
        }
        updatePortable(bytes)
    }

    /// The checksum of a `length`-byte message whose bytes at `offset` changed from `old` to
    /// `new` (same count), given its checksum before — without reading the rest of it. CRC is
    /// affine: for messages of one length, crc(M) ⊕ crc(M′) is the zero-started, uninverted
    /// CRC of M ⊕ M′, which leading zeros leave alone and trailing zeros shift.
    package static func adjusting(
        _ checksum: UInt32, length: Int, at offset: Int, from old: UnsafeRawBufferPointer, to new: UnsafeRawBufferPointer
    ) -> UInt32 {
        precondition(old.count == new.count && offset >= 0 && offset + old.count <= length, "the change must lie inside the message")
        var crc = CRC32C()
        crc.state = 0
        withUnsafeTemporaryAllocation(byteCount: old.count, alignment: 1) { difference in
            for index in 0..<old.count { difference[index] = old[index] ^ new[index] }
            crc.update(UnsafeRawBufferPointer(difference))
        }
        return checksum ^ sundial_crc32c_zeros(crc.state, UInt64(length - offset - old.count))
    }

    /// Whether the CPU's crc32 instruction is used (SSE4.2); the table version otherwise.
    package static let hardware = sundial_crc32c_hardware_available() != 0

    /// The table-driven version: used without SSE4.2, and by tests to cross-check.
    package mutating func updatePortable(_ bytes: UnsafeRawBufferPointer) {
        let table = CRC32C.table
        var crc = state
        var index = 0
        let count = bytes.count
        // Eight bytes per step through eight 256-entry tables.
        while count - index >= 8 {
            let low = UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8
                | UInt32(bytes[index + 2]) << 16 | UInt32(bytes[index + 3]) << 24
            let high = UInt32(bytes[index + 4]) | UInt32(bytes[index + 5]) << 8
                | UInt32(bytes[index + 6]) << 16 | UInt32(bytes[index + 7]) << 24
            let mixed = crc ^ low
            crc = table[7 &* 256 &+ Int(mixed & 0xFF)]
                ^ table[6 &* 256 &+ Int((mixed >> 8) & 0xFF)]
                ^ table[5 &* 256 &+ Int((mixed >> 16) & 0xFF)]
                ^ table[4 &* 256 &+ Int(mixed >> 24)]
                ^ table[3 &* 256 &+ Int(high & 0xFF)]
                ^ table[2 &* 256 &+ Int((high >> 8) & 0xFF)]
                ^ table[1 &* 256 &+ Int((high >> 16) & 0xFF)]
                ^ table[Int(high >> 24)]
            index += 8
        }
        while index < count {
            crc = table[Int((crc ^ UInt32(bytes[index])) & 0xFF)] ^ (crc >> 8)
            index += 1
        }
        state = crc
    }

    /// Eight tables of 256 entries; table k maps a byte to its CRC contribution k bytes later.
    private static let table: [UInt32] = {
        let polynomial: UInt32 = 0x82F6_3B78  // Castagnoli, reflected.
        var table = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ polynomial : crc >> 1
            }
            table[byte] = crc
        }
        for slice in 1..<8 {
            for byte in 0..<256 {
                let previous = table[(slice - 1) * 256 + byte]
                table[slice * 256 + byte] = (previous >> 8) ^ table[Int(previous & 0xFF)]
            }
        }
        return table
    }()
}

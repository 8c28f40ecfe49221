import Storage

/// Storage's CRC32C, for tests that forge frames with a valid checksum around a wrong field.
enum CRC32CForTests {
    static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 { CRC32C.checksum(bytes) }
}

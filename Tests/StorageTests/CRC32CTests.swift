// Proves CRC32C matches the published Castagnoli check values and is independent of how input is split.
import Storage
import Testing

@Suite struct CRC32CTests {
    static let vectors: [([UInt8], UInt32)] = [
        ([], 0),
        (Array("123456789".utf8), 0xE306_9283),
        ([UInt8](repeating: 0, count: 32), 0x8A91_36AA),  // RFC 3720 B.4
        ([UInt8](repeating: 0xFF, count: 32), 0x62A8_AB43),
        (Array(0...31).map(UInt8.init), 0x46DD_794E),
        (Array((0...31).reversed()).map(UInt8.init), 0x113F_DB5C),
    ]

    @Test(arguments: vectors)
    func knownValues(input: [UInt8], expected: UInt32) {
        #expect(CRC32C.checksum(input) == expected)
    }

    @Test func splitAtEveryByteGivesTheSameValue() {
        let input = (0..<100).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let whole = CRC32C.checksum(input)
        for split in 0...input.count {
            var crc = CRC32C()
            crc.update(input[..<split])
            crc.update(input[split...])
            #expect(crc.value == whole, "split at \(split)")
        }
    }

    @Test func hardwareAndPortableAgreeOnEveryLengthAndAlignment() {
        let input = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
        input.withUnsafeBytes { raw in
            for start in 0..<9 {
                for length in 0...(raw.count - start) where length < 40 || length % 17 == 0 {
                    let slice = UnsafeRawBufferPointer(rebasing: raw[start..<start + length])
                    var fast = CRC32C()
                    fast.update(slice)
                    var portable = CRC32C()
                    portable.updatePortable(slice)
                    #expect(fast.value == portable.value, "start \(start) length \(length)")
                }
            }
        }
    }
}

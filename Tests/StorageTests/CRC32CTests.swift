// Proves CRC32C matches the published Castagnoli check values and is independent of how input is split.
import Storage
import Testing
import TestSupport

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

    /// Buffers of three 4 KiB parts and more run as three interleaved chains joined by
    /// polynomial shifts: checked against the table version across the block boundaries,
    /// from every starting alignment and a running state.
    @Test func interleavedChainsAgreeWithThePortableVersion() {
        var random = SplitMix64(seed: 3)
        let input = (0..<(3 * 4096 * 3 + 200)).map { _ in UInt8.random(in: 0...255, using: &random) }
        input.withUnsafeBytes { raw in
            for length in [3 * 4096 - 1, 3 * 4096, 3 * 4096 + 1, 3 * 4096 + 7, 6 * 4096, 6 * 4096 + 13, 9 * 4096 + 100] {
                for start in [0, 1, 5, 8] {
                    let slice = UnsafeRawBufferPointer(rebasing: raw[start..<start + length])
                    var fast = CRC32C()
                    fast.update(UnsafeRawBufferPointer(rebasing: raw[0..<3]))
                    fast.update(slice)
                    var portable = CRC32C()
                    portable.updatePortable(UnsafeRawBufferPointer(rebasing: raw[0..<3]))
                    portable.updatePortable(slice)
                    #expect(fast.value == portable.value, "start \(start) length \(length)")
                }
            }
        }
    }

    /// A checksum carried over a changed field equals the checksum computed again, wherever
    /// the field lies and however long the message (a replica re-stamps each record's header).
    @Test func aChecksumCarriedOverAChangedFieldMatchesARecomputedOne() {
        var random = SplitMix64(seed: 11)
        for _ in 0..<300 {
            let length = Int.random(in: 4...20_000, using: &random)
            var message = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            let width = Int.random(in: 1...min(8, length), using: &random)
            let offset = Int.random(in: 0...(length - width), using: &random)
            let before = CRC32C.checksum(message)
            let old = Array(message[offset..<offset + width])
            let new = (0..<width).map { _ in UInt8.random(in: 0...255, using: &random) }
            message.replaceSubrange(offset..<offset + width, with: new)
            let carried = old.withUnsafeBytes { old in
                new.withUnsafeBytes { new in CRC32C.adjusting(before, length: length, at: offset, from: old, to: new) }
            }
            #expect(carried == CRC32C.checksum(message), "length \(length), \(width) bytes at \(offset)")
        }
    }
}

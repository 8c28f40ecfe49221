// Proves the short-string comparison used for symbols and names: equal bytes compare equal at
// every length, and a difference in any single byte is seen wherever it lies.
import Storage
import Testing
import TestSupport

@Suite struct ShortBytesTests {
    @Test func aDifferenceInAnyByteIsSeenAtEveryLength() {
        var random = SplitMix64(seed: 5)
        for count in 0...40 {
            let a = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            a.withUnsafeBytes { left in
                a.withUnsafeBytes { right in
                    #expect(count == 0 || ShortBytes.equal(left.baseAddress!, right.baseAddress!, count), "length \(count)")
                }
            }
            for position in 0..<count {
                var b = a
                b[position] ^= UInt8(1 << (position % 8))
                a.withUnsafeBytes { left in
                    b.withUnsafeBytes { right in
                        #expect(!ShortBytes.equal(left.baseAddress!, right.baseAddress!, count), "length \(count), byte \(position)")
                    }
                }
            }
        }
    }
}

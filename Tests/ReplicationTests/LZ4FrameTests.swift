// Proves liblz4 is linked through CLZ4 and that frames round-trip while damaged or oversized frames are refused.
import Replication
import Testing

@Suite struct LZ4FrameTests {
    static func sample(count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<count).map { index in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            // Half compressible text-like bytes, half noise.
            return index % 2 == 0 ? UInt8(ascii: "a") + UInt8(index % 7) : UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    @Test(arguments: [0, 1, 100, 65_536, 1_000_003])
    func roundTrips(count: Int) throws {
        let input = Self.sample(count: count, seed: UInt64(count))
        let frame = try LZ4Frame.compress(input)
        #expect(Array(frame.prefix(4)) == [0x04, 0x22, 0x4D, 0x18])  // LZ4 frame magic, little-endian
        #expect(try LZ4Frame.decompress(frame, maxDecodedBytes: max(count, 1)) == input)
    }

    @Test func compressesRepetitiveData() throws {
        let input = [UInt8](repeating: 0x41, count: 100_000)
        #expect(try LZ4Frame.compress(input).count < 1_000)
    }

    @Test func everyByteFlipIsDetected() throws {
        let input = Self.sample(count: 300, seed: 1)
        let frame = try LZ4Frame.compress(input)
        for index in frame.indices {
            var damaged = frame
            damaged[index] ^= 0x5A
            #expect(throws: LZ4FrameError.self, "byte \(index)") {
                try LZ4Frame.decompress(damaged, maxDecodedBytes: 1 << 20)
            }
        }
    }

    @Test func everyTruncationIsDetected() throws {
        let frame = try LZ4Frame.compress(Self.sample(count: 5_000, seed: 2))
        for length in 0..<frame.count {
            #expect(throws: LZ4FrameError.self, "length \(length)") {
                try LZ4Frame.decompress(Array(frame[..<length]), maxDecodedBytes: 1 << 20)
            }
        }
    }

    @Test func framesLargerThanTheCapAreRefusedBeforeDecoding() throws {
        let frame = try LZ4Frame.compress(Self.sample(count: 10_000, seed: 3))
        let error = #expect(throws: LZ4FrameError.self) { try LZ4Frame.decompress(frame, maxDecodedBytes: 9_999) }
        #expect(error?.code == .tooLarge)
    }

    @Test func bytesAfterTheFrameAreRefused() throws {
        let frame = try LZ4Frame.compress(Self.sample(count: 100, seed: 4))
        let error = #expect(throws: LZ4FrameError.self) {
            try LZ4Frame.decompress(frame + [0, 1, 2], maxDecodedBytes: 1 << 20)
        }
        #expect(error?.code == .trailingBytes)
    }
}

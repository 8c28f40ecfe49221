// Proves the node identity file round-trips and that any damage to it is refused, never misread.
import Storage
import Testing

@Suite struct NodeIdentityTests {
    let identity = NodeIdentity(
        clusterID: "0123456789abcdef0123456789abcdef", nodeID: "fedcba9876543210fedcba9876543210",
        epoch: 7, role: .replica)

    @Test func roundTrips() throws {
        #expect(try NodeIdentity.decode(identity.encoded(), path: "identity") == identity)
    }

    @Test func generatedIdentitiesAreDistinctAndStartAtEpochZero() {
        let first = NodeIdentity.generate(role: .standalone)
        let second = NodeIdentity.generate(role: .standalone)
        #expect(first.epoch == 0 && first.role == .standalone)
        #expect(first.nodeID != second.nodeID && first.clusterID != second.clusterID)
        #expect(first.nodeID.count == 32)
    }

    @Test func everySingleBitFlipIsRejected() {
        let bytes = identity.encoded()
        for index in bytes.indices {
            for bit in 0..<8 {
                var damaged = bytes
                damaged[index] ^= 1 << bit
                #expect(throws: StorageError.self, "byte \(index) bit \(bit)") {
                    try NodeIdentity.decode(damaged, path: "identity")
                }
            }
        }
    }

    @Test func everyTruncationIsRejected() {
        let bytes = identity.encoded()
        for length in 0..<bytes.count - 1 {
            #expect(throws: StorageError.self, "length \(length)") {
                try NodeIdentity.decode(Array(bytes[..<length]), path: "identity")
            }
        }
    }

    @Test func aNewerFormatIsRefusedAsUnsupported() throws {
        let body = """
            sundial-node-identity 2
            cluster.id=\(identity.clusterID)
            node.id=\(identity.nodeID)
            epoch=7
            role=replica

            """
        let checksum = String(CRC32C.checksum(body.utf8), radix: 16)
        let padded = String(repeating: "0", count: 8 - checksum.count) + checksum
        let bytes = Array((body + "checksum=crc32c:\(padded)\n").utf8)
        let error = #expect(throws: StorageError.self) { try NodeIdentity.decode(bytes, path: "identity") }
        #expect(error?.code == .unsupportedVersion)
    }
}

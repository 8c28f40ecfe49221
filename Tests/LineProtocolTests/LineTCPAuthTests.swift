// ILP over TCP authentication: ECDSA P-256 signatures (raw r‖s and DER) through libcrypto,
// the key file format, and the challenge exchange as a value fed byte by byte.
import Foundation
import LineProtocol
import NIOCore
import Testing

@Suite struct LineTCPAuthTests {
    /// QuestDB's documented test key (`testUser1`); the signatures below were made with its
    /// private key `d` by Python's `cryptography` over `message`.
    static let keyLine = "testUser1 ec-p-256-sha256 fLKYEaoEb9lrn3nkwLDA-M_xnuFOdSt9y0Z7_vWSHLU Dt5tbS1dEDMSYfym3fgMv0B99szno-dFc1rYF9t0aac"
    static let message = (0..<512).map { UInt8(0x20 + ($0 * 37) % 95) }
    static let der = bytes("3045022100f92b202771e9789d8e2b0805ae15f4ac598cfa7ea5bf3f7fd507c6df4eb6329c022033404ec698361354c83a952aea0ffdc16b4a01b091731723018669e78c5ad6f2")
    static let p1363 = bytes("f92b202771e9789d8e2b0805ae15f4ac598cfa7ea5bf3f7fd507c6df4eb6329c33404ec698361354c83a952aea0ffdc16b4a01b091731723018669e78c5ad6f2")

    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            out.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return out
    }

    static func base64(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var out = ""
        var index = 0
        while index < bytes.count {
            let chunk = Array(bytes[index..<min(index + 3, bytes.count)]) + [0, 0]
            let value = UInt32(chunk[0]) << 16 | UInt32(chunk[1]) << 8 | UInt32(chunk[2])
            for position in 0..<4 {
                out.append(position <= bytes.count - index ? alphabet[Int(value >> UInt32(18 - 6 * position) & 63)] : "=")
            }
            index += 3
        }
        return out
    }

    static func key() throws -> ECDSAP256PublicKey {
        try #require(try LineTCPAuthKeys.parse(keyLine).keys["testUser1"])
    }

    @Test func signaturesVerifyInBothEncodingsAndNothingElseDoes() throws {
        let key = try Self.key()
        #expect(key.verify(signature: Self.p1363, of: Self.message))
        #expect(key.verify(signature: Self.der, of: Self.message))
        var other = Self.message
        other[0] ^= 1
        #expect(!key.verify(signature: Self.p1363, of: other))
        for index in [0, 31, 32, 63] {
            var flipped = Self.p1363
            flipped[index] ^= 0x10
            #expect(!key.verify(signature: flipped, of: Self.message))
        }
        #expect(!key.verify(signature: [], of: Self.message))
        #expect(!key.verify(signature: Array(Self.der.dropLast()), of: Self.message))
    }

    @Test func keyFiles() throws {
        let keys = try LineTCPAuthKeys.parse("# clients\n\n" + Self.keyLine + "  # trailing comment\r\n")
        #expect(keys.keys.count == 1)
        let bad: [(String, String)] = [
            ("a ec-p-256-sha256 xx", "line 1: expected `<keyId> ec-p-256-sha256 <x> <y>`"),
            ("a rsa AAAA AAAA", "line 1: unsupported key type rsa; only ec-p-256-sha256 is"),
            ("a ec-p-256-sha256 AAAA AAAA", "line 1: the key is not a P-256 point (x and y: 32 bytes base64url each)"),
            ("\n" + Self.keyLine.replacingFirst("fLKY", with: "fLKZ"), "line 2: the key is not a P-256 point (x and y: 32 bytes base64url each)"),
            (Self.keyLine + "\n" + Self.keyLine, "line 2: key id testUser1 appears twice"),
        ]
        for (text, message) in bad {
            let error = #expect(throws: LineTCPAuthKeysError.self) { try LineTCPAuthKeys.parse(text) }
            #expect(error?.description == message, "\(text)")
        }
    }

    @Test(arguments: [false, true]) func theChallengeExchangeFedByteByByte(_ useDER: Bool) throws {
        let keys = try LineTCPAuthKeys.parse(Self.keyLine)
        // A fixed "random" source whose bytes map onto `message` (0x20 + b % 95).
        var auth = LineTCPAuthenticator(keys: keys, random: { Self.message.map { $0 - 0x20 } })
        var sent: [UInt8] = []
        for byte in Array("testUser1\n".utf8) {
            switch auth.receive(ByteBuffer(bytes: [byte])) {
            case .needMore: continue
            case .send(let bytes): sent = bytes
            case let other: Issue.record("unexpected \(other)")
            }
        }
        #expect(sent == Self.message + [UInt8(ascii: "\n")])
        let answer = Array((Self.base64(useDER ? Self.der : Self.p1363) + "\r\nt a=1i\n").utf8)
        var result: LineTCPAuthenticator.Action = .needMore
        for byte in answer where result == .needMore {
            result = auth.receive(ByteBuffer(bytes: [byte]))
        }
        #expect(result == .authenticated(keyID: "testUser1", remaining: ByteBuffer()))
    }

    @Test func failuresReject() throws {
        let keys = try LineTCPAuthKeys.parse(Self.keyLine)
        var unknown = LineTCPAuthenticator(keys: keys)
        #expect(unknown.receive(ByteBuffer(string: "someoneElse\n")) == .reject("unknown key id someoneElse"))
        var long = LineTCPAuthenticator(keys: keys)
        #expect(long.receive(ByteBuffer(string: String(repeating: "k", count: 300))) == .reject("key id line too long"))
        var badSignature = LineTCPAuthenticator(keys: keys, random: { Self.message.map { $0 - 0x20 } })
        guard case .send = badSignature.receive(ByteBuffer(string: "testUser1\n")) else {
            Issue.record("no challenge")
            return
        }
        var wrong = Self.p1363
        wrong[5] ^= 1
        #expect(badSignature.receive(ByteBuffer(string: Self.base64(wrong) + "\n")) == .reject("signature does not verify for key id testUser1"))
        var garbage = LineTCPAuthenticator(keys: keys)
        _ = garbage.receive(ByteBuffer(string: "testUser1\n"))
        #expect(garbage.receive(ByteBuffer(string: "!!!not base64!!!\n")) == .reject("signature does not verify for key id testUser1"))
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}

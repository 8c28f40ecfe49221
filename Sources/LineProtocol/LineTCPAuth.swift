import NIOCore
import Storage

/// The keys allowed to write over ILP/TCP (`line.tcp.auth.db.path`): one line per key,
/// `<keyId> ec-p-256-sha256 <x base64url> <y base64url>`, `#` starts a comment.
package struct LineTCPAuthKeys: Sendable {
    package let keys: [String: ECDSAP256PublicKey]

    package init(keys: [String: ECDSAP256PublicKey]) {
        self.keys = keys
    }

    /// Parses the file's text; the error names the line and what is wrong with it.
    package static func parse(_ text: String) throws(LineTCPAuthKeysError) -> LineTCPAuthKeys {
        var keys: [String: ECDSAP256PublicKey] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.prefix { $0 != "#" }
            if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard fields.count == 4 else {
                throw LineTCPAuthKeysError(line: index + 1, "expected `<keyId> ec-p-256-sha256 <x> <y>`")
            }
            guard fields[1] == "ec-p-256-sha256" else {
                throw LineTCPAuthKeysError(line: index + 1, "unsupported key type \(fields[1]); only ec-p-256-sha256 is")
            }
            guard let x = Base64.decode(fields[2]), let y = Base64.decode(fields[3]),
                  let key = ECDSAP256PublicKey(x: x, y: y)
            else { throw LineTCPAuthKeysError(line: index + 1, "the key is not a P-256 point (x and y: 32 bytes base64url each)") }
            guard keys[String(fields[0])] == nil else {
                throw LineTCPAuthKeysError(line: index + 1, "key id \(fields[0]) appears twice")
            }
            keys[String(fields[0])] = key
        }
        return LineTCPAuthKeys(keys: keys)
    }
}

package struct LineTCPAuthKeysError: Error, CustomStringConvertible {
    package var line: Int
    package var message: String

    package init(line: Int, _ message: String) {
        self.line = line
        self.message = message
    }

    package var description: String { "line \(line): \(message)" }
}

/// The ECDSA challenge of ILP over TCP (QUESTDB-COMPAT §2.3), as a value fed with received
/// bytes: key id line → 512 printable random bytes + `\n` → signature line → plain ILP.
/// Any failure (unknown key, bad signature, over-long line) ends the connection without a
/// word, as QuestDB does.
package struct LineTCPAuthenticator {
    package enum Action: Equatable {
        /// Waiting for the rest of a line.
        case needMore
        /// Send these bytes (the challenge), then keep feeding.
        case send([UInt8])
        /// Authenticated as `keyID`; `remaining` bytes after the signature line are ILP.
        case authenticated(keyID: String, remaining: ByteBuffer)
        case reject(String)
    }

    private enum State {
        case awaitingKeyID
        case awaitingSignature(keyID: String, key: ECDSAP256PublicKey, challenge: [UInt8])
        case finished
    }

    static let challengeBytes = 512
    static let maxKeyIDLine = 256
    /// 64 bytes raw or ~72 DER in base64, with room for a CR.
    static let maxSignatureLine = 128

    private let keys: LineTCPAuthKeys
    private let random: () -> [UInt8]
    private var state = State.awaitingKeyID
    private var pending: [UInt8] = []

    /// `random` supplies the challenge's entropy (512 bytes); tests pass a fixed one.
    package init(keys: LineTCPAuthKeys, random: @escaping () -> [UInt8] = { SecureRandom.bytes(LineTCPAuthenticator.challengeBytes) }) {
        self.keys = keys
        self.random = random
    }

    package mutating func receive(_ bytes: ByteBuffer) -> Action {
        var input = bytes
        while true {
            switch state {
            case .finished:
                return .reject("authentication already finished")
            case .awaitingKeyID:
                guard let line = takeLine(&input, limit: Self.maxKeyIDLine) else {
                    return pending.count > Self.maxKeyIDLine ? fail("key id line too long") : .needMore
                }
                let keyID = String(decoding: line, as: UTF8.self)
                guard let key = keys.keys[keyID] else { return fail("unknown key id \(keyID)") }
                // Printable ASCII 0x20…0x7E, as QuestDB sends.
                let challenge = random().prefix(Self.challengeBytes).map { 0x20 + $0 % 95 }
                state = .awaitingSignature(keyID: keyID, key: key, challenge: challenge)
                if input.readableBytes > 0 { pending = Array(input.readableBytesView) }
                return .send(challenge + [UInt8(ascii: "\n")])
            case .awaitingSignature(let keyID, let key, let challenge):
                guard let line = takeLine(&input, limit: Self.maxSignatureLine) else {
                    return pending.count > Self.maxSignatureLine ? fail("signature line too long") : .needMore
                }
                guard let signature = Base64.decode(line[...]), key.verify(signature: signature, of: challenge) else {
                    return fail("signature does not verify for key id \(keyID)")
                }
                state = .finished
                var remaining = ByteBuffer(bytes: pending)
                pending = []
                remaining.writeBuffer(&input)
                return .authenticated(keyID: keyID, remaining: remaining)
            }
        }
    }

    /// The next line (without `\n` and a trailing `\r`) from what is pending plus `input`.
    private mutating func takeLine(_ input: inout ByteBuffer, limit: Int) -> [UInt8]? {
        let view = input.readableBytesView
        guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else {
            pending.append(contentsOf: view.prefix(limit + 1))
            input.moveReaderIndex(forwardBy: view.count)
            return nil
        }
        var line = pending + view[view.startIndex..<newline]
        pending = []
        input.moveReaderIndex(forwardBy: newline - view.startIndex + 1)
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        return line.count <= limit ? line : nil
    }

    private mutating func fail(_ reason: String) -> Action {
        state = .finished
        return .reject(reason)
    }
}


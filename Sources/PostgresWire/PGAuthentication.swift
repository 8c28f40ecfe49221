import Storage

/// How clients prove who they are (`pg.auth.method`): cleartext as QuestDB does, or
/// SCRAM-SHA-256 (RFC 5802/7677), which never puts the password on the wire.
package enum PGAuthMethod: String, Sendable, CaseIterable {
    case cleartext = "password"
    case scramSHA256 = "scram-sha-256"
}

/// One user the server accepts. The SCRAM verifier is derived once, at configuration time,
/// from the configured password with a random salt. Printing it never shows the secrets
/// (service descriptions are logged at debug level).
package struct PGCredential: Sendable, CustomStringConvertible, CustomReflectable {
    package var description: String { "PGCredential(user: \(user), readOnly: \(readOnly))" }
    package var customMirror: Mirror { Mirror(self, children: ["user": user, "readOnly": readOnly]) }

    package var user: String
    package var readOnly: Bool
    fileprivate var password: [UInt8]
    fileprivate var scram: SCRAMVerifier

    /// `salt` is random unless given (tests use RFC 7677's).
    package init(user: String, password: String, readOnly: Bool, iterations: Int = 4096, salt: [UInt8]? = nil) {
        self.user = user
        self.readOnly = readOnly
        self.password = Array(password.utf8)
        self.scram = SCRAMVerifier(password: self.password, salt: salt ?? PGCrypto.randomBytes(16), iterations: iterations)
    }
}

/// RFC 5802's server-side keys.
struct SCRAMVerifier: Sendable {
    var salt: [UInt8]
    var iterations: Int
    var storedKey: [UInt8]
    var serverKey: [UInt8]

    init(password: [UInt8], salt: [UInt8], iterations: Int) {
        let salted = PGCrypto.pbkdf2SHA256(password: password, salt: salt, iterations: iterations)
        self.salt = salt
        self.iterations = iterations
        storedKey = PGCrypto.sha256(PGCrypto.hmacSHA256(key: salted, Array("Client Key".utf8)))
        serverKey = PGCrypto.hmacSHA256(key: salted, Array("Server Key".utf8))
    }

    /// For a user that does not exist: a salt stable per name (as PostgreSQL's mock salt, so
    /// asking twice cannot tell a real user from an invented one) and keys no proof matches.
    /// No PBKDF2 runs: the exchange happens on the connection's event loop, and a flood of
    /// made-up names must not cost milliseconds of CPU each.
    init(unknownUser user: String) {
        salt = Array(PGCrypto.hmacSHA256(key: Self.mockSecret, Array(user.utf8)).prefix(16))
        iterations = 4096
        storedKey = PGCrypto.randomBytes(32)
        serverKey = PGCrypto.randomBytes(32)
    }

    /// Per process: mock salts differ between servers and restarts.
    private static let mockSecret = PGCrypto.randomBytes(32)
}

/// The authentication exchange of one connection, as a value: messages in, messages and a
/// verdict out. An unknown user runs the same exchange as a known one (with a throw-away
/// verifier) and fails the same way, so the answers never reveal which users exist.
package struct PGAuthentication {
    package enum Step: Equatable {
        case send(PGBackendMessage)
        /// Logged in; `final` goes before AuthenticationOk (SCRAM's server signature).
        case authenticated(readOnly: Bool, final: PGBackendMessage?)
        case failed(PGProtocolError)
    }

    private enum State {
        case awaitingPassword
        case awaitingSASLInitial
        case awaitingSASLFinal(clientFirstBare: String, serverFirst: String, nonce: String, gs2Header: String)
        case finished
    }

    private let user: String
    private let credential: PGCredential?
    private let method: PGAuthMethod
    private var state: State
    private let verifier: SCRAMVerifier
    /// The server's part of the SCRAM nonce; random unless given (tests).
    private let serverNonce: String?

    package init(user: String, credential: PGCredential?, method: PGAuthMethod, serverNonce: String? = nil) {
        self.serverNonce = serverNonce
        self.user = user
        self.credential = credential
        self.method = method
        state = method == .cleartext ? .awaitingPassword : .awaitingSASLInitial
        verifier = credential?.scram ?? SCRAMVerifier(unknownUser: user)
    }

    /// The request that opens the exchange.
    package var request: PGBackendMessage {
        method == .cleartext ? .authenticationCleartextPassword : .authenticationSASL(mechanisms: ["SCRAM-SHA-256"])
    }

    private var failure: PGProtocolError {
        PGProtocolError("28P01", "password authentication failed for user \"\(user)\"", fatal: true)
    }

    private static let malformed = PGProtocolError("08P01", "malformed SCRAM message", fatal: true)

    /// The client's `p` message.
    package mutating func receive(_ bytes: [UInt8]) -> Step {
        switch state {
        case .awaitingPassword:
            state = .finished
            var password = bytes
            guard password.last == 0 else { return .failed(.violation("invalid password packet", fatal: true)) }
            password.removeLast()
            guard let credential, PGCrypto.constantTimeEqual(password, credential.password) else { return .failed(failure) }
            return .authenticated(readOnly: credential.readOnly, final: nil)
        case .awaitingSASLInitial:
            return saslInitial(bytes)
        case .awaitingSASLFinal(let clientFirstBare, let serverFirst, let nonce, let gs2Header):
            state = .finished
            return saslFinal(bytes, clientFirstBare: clientFirstBare, serverFirst: serverFirst, nonce: nonce, gs2Header: gs2Header)
        case .finished:
            return .failed(.violation("unexpected authentication message", fatal: true))
        }
    }

    private mutating func saslInitial(_ bytes: [UInt8]) -> Step {
        state = .finished
        guard let nul = bytes.firstIndex(of: 0) else { return .failed(Self.malformed) }
        let mechanism = String(decoding: bytes[..<nul], as: UTF8.self)
        guard mechanism == "SCRAM-SHA-256" else {
            return .failed(PGProtocolError("28000", "client selected an invalid SASL authentication mechanism", fatal: true))
        }
        let rest = bytes[(nul + 1)...]
        guard rest.count >= 4 else { return .failed(Self.malformed) }
        let length = rest.prefix(4).reduce(0) { $0 << 8 | Int($1) }
        let data = rest.dropFirst(4)
        guard length == data.count, let message = String(validating: data, as: UTF8.self) else { return .failed(Self.malformed) }
        // gs2-header: channel binding flag (`n` or `y`; `p` needs -PLUS, not offered), authzid.
        let parts = message.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "n" || parts[0] == "y", parts[1].isEmpty || parts[1].hasPrefix("a=") else {
            return .failed(Self.malformed)
        }
        let clientFirstBare = String(parts[2])
        guard let clientNonce = Self.attribute("r", in: clientFirstBare), !clientNonce.isEmpty,
              clientNonce.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E && $0 != UInt8(ascii: ",") })
        else { return .failed(Self.malformed) }
        let nonce = clientNonce + (serverNonce ?? Base64.encode(PGCrypto.randomBytes(18)))
        let serverFirst = "r=\(nonce),s=\(Base64.encode(verifier.salt)),i=\(verifier.iterations)"
        state = .awaitingSASLFinal(
            clientFirstBare: clientFirstBare, serverFirst: serverFirst, nonce: nonce, gs2Header: "\(parts[0]),\(parts[1]),")
        return .send(.authenticationSASLContinue(Array(serverFirst.utf8)))
    }

    private func saslFinal(_ bytes: [UInt8], clientFirstBare: String, serverFirst: String, nonce: String, gs2Header: String) -> Step {
        guard let message = String(validating: bytes, as: UTF8.self),
              let proofStart = message.firstRange(of: ",p=")
        else { return .failed(Self.malformed) }
        let withoutProof = String(message[..<proofStart.lowerBound])
        guard let binding = Self.attribute("c", in: withoutProof), let echoed = Self.attribute("r", in: withoutProof),
              let proof = Base64.decode(message[proofStart.upperBound...]), proof.count == 32
        else { return .failed(Self.malformed) }
        guard echoed == nonce, binding == Base64.encode(Array(gs2Header.utf8)) else { return .failed(Self.malformed) }
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        let signature = PGCrypto.hmacSHA256(key: verifier.storedKey, authMessage)
        let clientKey = zip(proof, signature).map { $0 ^ $1 }
        guard let credential, PGCrypto.constantTimeEqual(PGCrypto.sha256(clientKey), verifier.storedKey) else {
            return .failed(failure)
        }
        let serverSignature = PGCrypto.hmacSHA256(key: verifier.serverKey, authMessage)
        return .authenticated(
            readOnly: credential.readOnly, final: .authenticationSASLFinal(Array("v=\(Base64.encode(serverSignature))".utf8)))
    }

    /// `name=value` in a SCRAM attribute list.
    static func attribute(_ name: Character, in message: String) -> String? {
        for part in message.split(separator: ",") where part.first == name && part.dropFirst().first == "=" {
            return String(part.dropFirst(2))
        }
        return nil
    }
}

// Proves the authentication exchanges: cleartext as QuestDB, SCRAM-SHA-256 against RFC 7677's
// worked example, and that failures never reveal whether a user exists.
import PostgresWire
import Testing

@Suite struct PGAuthenticationTests {
    static func base64(_ text: String) -> [UInt8] {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var bits = 0, count = 0
        var out: [UInt8] = []
        for character in text where character != "=" {
            bits = bits << 6 | alphabet.firstIndex(of: character)!
            count += 6
            if count >= 8 {
                count -= 8
                out.append(UInt8(truncatingIfNeeded: bits >> count))
            }
        }
        return out
    }

    static func saslInitial(_ message: String, mechanism: String = "SCRAM-SHA-256") -> [UInt8] {
        let data = Array(message.utf8)
        return Array(mechanism.utf8) + [0] + withUnsafeBytes(of: Int32(data.count).bigEndian) { Array($0) } + data
    }

    @Test func scramMatchesRFC7677() {
        let credential = PGCredential(user: "user", password: "pencil", readOnly: false, salt: Self.base64("W22ZaJ0SNY7soEsUEjb6gQ=="))
        var exchange = PGAuthentication(
            user: "user", credential: credential, method: .scramSHA256, serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
        #expect(exchange.request == .authenticationSASL(mechanisms: ["SCRAM-SHA-256"]))
        let first = exchange.receive(Self.saslInitial("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))
        #expect(first == .send(.authenticationSASLContinue(Array(
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".utf8))))
        let final = exchange.receive(Array(
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=".utf8))
        #expect(final == .authenticated(readOnly: false, final: .authenticationSASLFinal(Array("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".utf8))))
    }

    @Test func scramWrongProofAndUnknownUserFailAlike() {
        let credential = PGCredential(user: "user", password: "pencil", readOnly: false, salt: Self.base64("W22ZaJ0SNY7soEsUEjb6gQ=="))
        for (name, known) in [("user", credential), ("ghost", nil)] {
            var exchange = PGAuthentication(user: name, credential: known, method: .scramSHA256, serverNonce: "abc")
            guard case .send = exchange.receive(Self.saslInitial("n,,n=,r=xyz")) else {
                Issue.record("SCRAM must continue for user \(name)")
                continue
            }
            let result = exchange.receive(Array("c=biws,r=xyzabc,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=".utf8))
            #expect(result == .failed(PGProtocolError("28P01", "password authentication failed for user \"\(name)\"", fatal: true)))
        }
    }

    /// An invented user's salt is stable per name, like a real user's (asking twice tells
    /// nothing), and differs between names.
    @Test func anUnknownUsersSaltIsStablePerName() {
        func salt(_ name: String) -> String? {
            var exchange = PGAuthentication(user: name, credential: nil, method: .scramSHA256)
            guard case .send(.authenticationSASLContinue(let bytes)) = exchange.receive(Self.saslInitial("n,,n=,r=xyz")) else { return nil }
            return String(decoding: bytes, as: UTF8.self).split(separator: ",").first { $0.hasPrefix("s=") }.map(String.init)
        }
        #expect(salt("ghost") != nil)
        #expect(salt("ghost") == salt("ghost"))
        #expect(salt("ghost") != salt("phantom"))
    }

    @Test(arguments: [
        saslInitial("garbage"), saslInitial("n,,n=user"), saslInitial("p=tls-server-end-point,,n=,r=abc"), [1, 2, 3],
        saslInitial("n,,n=,r=abc", mechanism: "SCRAM-SHA-1"),
    ])
    func malformedSASLIsFatal(_ bytes: [UInt8]) {
        var exchange = PGAuthentication(user: "user", credential: nil, method: .scramSHA256)
        guard case .failed(let error) = exchange.receive(bytes) else {
            Issue.record("malformed SASL accepted")
            return
        }
        #expect(error.fatal && (error.sqlState == "08P01" || error.sqlState == "28000"))
    }

    @Test func scramFinalWithATamperedNonceOrBindingIsMalformed() {
        let credential = PGCredential(user: "user", password: "pencil", readOnly: false)
        for final in ["c=biws,r=wrongnonce,p=AAAA", "c=eSws,r=abcdef,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "no proof here"] {
            var exchange = PGAuthentication(user: "user", credential: credential, method: .scramSHA256, serverNonce: "def")
            _ = exchange.receive(Self.saslInitial("n,,n=,r=abc"))
            #expect(exchange.receive(Array(final.utf8)) == .failed(PGProtocolError("08P01", "malformed SCRAM message", fatal: true)))
        }
    }

    @Test func cleartextChecksThePasswordAndKeepsTheReadOnlyFlag() {
        let reader = PGCredential(user: "user", password: "quest", readOnly: true)
        var good = PGAuthentication(user: "user", credential: reader, method: .cleartext)
        #expect(good.request == .authenticationCleartextPassword)
        #expect(good.receive(Array("quest".utf8) + [0]) == .authenticated(readOnly: true, final: nil))
        var bad = PGAuthentication(user: "user", credential: reader, method: .cleartext)
        #expect(bad.receive(Array("guess".utf8) + [0]) == .failed(PGProtocolError("28P01", "password authentication failed for user \"user\"", fatal: true)))
        var unknown = PGAuthentication(user: "nobody", credential: nil, method: .cleartext)
        #expect(unknown.receive(Array("quest".utf8) + [0]) == .failed(PGProtocolError("28P01", "password authentication failed for user \"nobody\"", fatal: true)))
        var unterminated = PGAuthentication(user: "user", credential: reader, method: .cleartext)
        guard case .failed(let error) = unterminated.receive(Array("quest".utf8)) else {
            Issue.record("an unterminated password must fail")
            return
        }
        #expect(error.sqlState == "08P01")
    }
}

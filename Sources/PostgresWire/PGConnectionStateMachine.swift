/// The protocol state of one connection, as a value: which messages are expected, whether
/// the extended protocol is skipping to the next Sync after an error, and the transaction
/// status ReadyForQuery reports. The connection asks it what to do with each input and
/// performs the answer; it holds no I/O.
package struct PGConnectionStateMachine {
    package enum Phase: Equatable {
        /// Before the start-up packet (SSL and GSS negotiation happen here).
        case startup
        case authenticating
        case ready
        case closed
    }

    package private(set) var phase = Phase.startup
    package private(set) var transaction = PGTransactionStatus.idle
    /// After an error in an extended-protocol message every message up to Sync is dropped.
    package private(set) var skippingToSync = false

    package init() {}

    package enum StartupAction: Equatable {
        /// Answer `N` to an SSL or GSS encryption request and wait for the next start-up packet.
        case refuseEncryption
        /// Answer `S` and hand the socket to TLS.
        case startTLS
        case cancel(processID: Int32, secret: Int32)
        /// Begin authentication; a newer minor protocol or `_pq_` options are answered with
        /// NegotiateProtocolVersion first.
        case authenticate(user: String, parameters: [String: String], negotiate: PGBackendMessage?)
        case fail(PGProtocolError)
    }

    /// `tlsRequired`: a start-up on a connection without TLS is refused (`pg.tls.required`).
    package mutating func startup(_ request: PGStartupRequest, tlsAvailable: Bool, tlsActive: Bool, tlsRequired: Bool = false) -> StartupAction {
        precondition(phase == .startup)
        switch request {
        case .sslRequest:
            if tlsActive { return fail(.violation("SSL request received on an encrypted connection", fatal: true)) }
            return tlsAvailable ? .startTLS : .refuseEncryption
        case .gssEncRequest:
            return .refuseEncryption
        case .unsupportedVersion(let major, let minor):
            return fail(PGProtocolError("0A000", "unsupported frontend protocol \(major).\(minor): server supports 3.0 to 3.0", fatal: true))
        case .cancel(let processID, let secret):
            phase = .closed
            return .cancel(processID: processID, secret: secret)
        case .startup(let minor, let parameters, let options):
            if tlsRequired && !tlsActive {
                return fail(PGProtocolError("28000", "this server accepts only TLS connections (pg.tls.required=true); use sslmode=require", fatal: true))
            }
            guard let user = parameters["user"], !user.isEmpty else {
                return fail(PGProtocolError("28000", "no PostgreSQL user name specified in startup packet", fatal: true))
            }
            if parameters["replication"].map({ $0 != "false" && $0 != "0" && $0 != "off" }) == true {
                return fail(PGProtocolError("0A000", "replication connections are not supported", fatal: true))
            }
            phase = .authenticating
            let negotiate = minor > 0 || !options.isEmpty ? PGBackendMessage.negotiateProtocolVersion(newestMinor: 0, unrecognized: options) : nil
            return .authenticate(user: user, parameters: parameters, negotiate: negotiate)
        }
    }

    private mutating func fail(_ error: PGProtocolError) -> StartupAction {
        phase = .closed
        return .fail(error)
    }

    package mutating func authenticated() {
        precondition(phase == .authenticating)
        phase = .ready
    }

    package enum MessageAction: Equatable {
        case authenticate([UInt8])
        case process(PGFrontendMessage)
        /// Dropped: the extended protocol is skipping to Sync.
        case ignore
        /// Sync: end of an extended-protocol batch; send ReadyForQuery.
        case sync
        case terminate
        case fail(PGProtocolError)
    }

    package mutating func receive(_ message: PGFrontendMessage) -> MessageAction {
        switch phase {
        case .startup, .closed:
            return .fail(.violation("unexpected message", fatal: true))
        case .authenticating:
            guard case .authenticationResponse(let bytes) = message else {
                phase = .closed
                return .fail(.violation("expected password response, got message type \(Self.typeName(message))", fatal: true))
            }
            return .authenticate(bytes)
        case .ready:
            switch message {
            case .terminate:
                phase = .closed
                return .terminate
            case .sync:
                skippingToSync = false
                return .sync
            case .authenticationResponse:
                phase = .closed
                return .fail(.violation("invalid frontend message type 112", fatal: true))
            default:
                return skippingToSync ? .ignore : .process(message)
            }
        }
    }

    /// A message failed. Extended-protocol messages skip to Sync; inside a transaction the
    /// transaction is failed until ROLLBACK.
    package mutating func failed(extendedProtocol: Bool) {
        if extendedProtocol { skippingToSync = true }
        if transaction == .inTransaction { transaction = .failed }
    }

    package mutating func closed() { phase = .closed }

    package mutating func begin() {
        if transaction == .idle { transaction = .inTransaction }
    }

    /// COMMIT or ROLLBACK: back to idle (a failed transaction's COMMIT rolls back).
    package mutating func endTransaction() { transaction = .idle }

    private static func typeName(_ message: PGFrontendMessage) -> String {
        switch message {
        case .query: "Q"
        case .parse: "P"
        case .bind: "B"
        case .describe: "D"
        case .execute: "E"
        case .close: "C"
        case .sync: "S"
        case .flush: "H"
        case .terminate: "X"
        case .authenticationResponse: "p"
        case .unsupported(let type): String(UnicodeScalar(type))
        }
    }
}

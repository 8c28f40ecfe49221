// Proves the connection state machine as a value: start-up negotiation, authentication,
// extended-protocol error recovery (skip to Sync) and transaction status.
import PostgresWire
import Testing

@Suite struct PGStateMachineTests {
    @Test func negotiatesEncryptionThenAuthenticates() {
        var machine = PGConnectionStateMachine()
        #expect(machine.startup(.gssEncRequest, tlsAvailable: false, tlsActive: false) == .refuseEncryption)
        #expect(machine.startup(.sslRequest, tlsAvailable: false, tlsActive: false) == .refuseEncryption)
        #expect(machine.startup(.sslRequest, tlsAvailable: true, tlsActive: false) == .startTLS)
        #expect(machine.phase == .startup)
        let action = machine.startup(.startup(minorVersion: 0, parameters: ["user": "admin"], options: []), tlsAvailable: true, tlsActive: true)
        #expect(action == .authenticate(user: "admin", parameters: ["user": "admin"], negotiate: nil))
        #expect(machine.phase == .authenticating)
        #expect(machine.receive(.authenticationResponse([1])) == .authenticate([1]))
        machine.authenticated()
        #expect(machine.phase == .ready && machine.transaction == .idle)
    }

    @Test func newerMinorVersionsAndProtocolOptionsAreNegotiatedDown() {
        var machine = PGConnectionStateMachine()
        let action = machine.startup(.startup(minorVersion: 2, parameters: ["user": "u"], options: ["_pq_.a"]), tlsAvailable: false, tlsActive: false)
        #expect(action == .authenticate(user: "u", parameters: ["user": "u"], negotiate: .negotiateProtocolVersion(newestMinor: 0, unrecognized: ["_pq_.a"])))
    }

    @Test(arguments: [
        (PGStartupRequest.startup(minorVersion: 0, parameters: [:], options: []), "28000"),
        (.startup(minorVersion: 0, parameters: ["user": "u", "replication": "database"], options: []), "0A000"),
        (.unsupportedVersion(major: 1234, minor: 5678), "0A000"),
    ])
    func refusedStartupsAreFatal(_ request: PGStartupRequest, _ state: String) {
        var machine = PGConnectionStateMachine()
        guard case .fail(let error) = machine.startup(request, tlsAvailable: false, tlsActive: false) else {
            Issue.record("start-up accepted")
            return
        }
        #expect(error.sqlState == state && error.fatal && machine.phase == .closed)
    }

    @Test func anSSLRequestInsideTLSIsRefused() {
        var machine = PGConnectionStateMachine()
        guard case .fail(let error) = machine.startup(.sslRequest, tlsAvailable: true, tlsActive: true) else {
            Issue.record("a second SSLRequest was accepted")
            return
        }
        #expect(error.sqlState == "08P01")
    }

    @Test func cancelRequestsCloseTheConnection() {
        var machine = PGConnectionStateMachine()
        #expect(machine.startup(.cancel(processID: 1, secret: 2), tlsAvailable: false, tlsActive: false) == .cancel(processID: 1, secret: 2))
        #expect(machine.phase == .closed)
    }

    @Test func anythingButAPasswordDuringAuthenticationIsFatal() {
        var machine = ready(authenticated: false)
        guard case .fail(let error) = machine.receive(.query("select 1")) else {
            Issue.record("query accepted before authentication")
            return
        }
        #expect(error.fatal && machine.phase == .closed)
    }

    @Test func errorsInTheExtendedProtocolSkipToSync() {
        var machine = ready()
        #expect(machine.receive(.parse(name: "", query: "x", parameterTypes: [])) == .process(.parse(name: "", query: "x", parameterTypes: [])))
        machine.failed(extendedProtocol: true)
        #expect(machine.receive(.execute(portal: "", maxRows: 0)) == .ignore)
        #expect(machine.receive(.flush) == .ignore)
        #expect(machine.receive(.sync) == .sync)
        #expect(machine.receive(.query("select 1")) == .process(.query("select 1")))
        machine.failed(extendedProtocol: false)
        #expect(machine.receive(.query("select 2")) == .process(.query("select 2")))
    }

    @Test func transactionStatusFollowsBeginFailureAndEnd() {
        var machine = ready()
        machine.failed(extendedProtocol: false)
        #expect(machine.transaction == .idle)
        machine.begin()
        #expect(machine.transaction == .inTransaction)
        machine.failed(extendedProtocol: false)
        #expect(machine.transaction == .failed)
        machine.begin()
        #expect(machine.transaction == .failed)
        machine.endTransaction()
        #expect(machine.transaction == .idle)
    }

    @Test func terminateAndASecondPasswordMessageClose() {
        var machine = ready()
        #expect(machine.receive(.terminate) == .terminate && machine.phase == .closed)
        var again = ready()
        guard case .fail(let error) = again.receive(.authenticationResponse([0])) else {
            Issue.record("password message accepted after login")
            return
        }
        #expect(error.fatal)
    }

    private func ready(authenticated: Bool = true) -> PGConnectionStateMachine {
        var machine = PGConnectionStateMachine()
        _ = machine.startup(.startup(minorVersion: 0, parameters: ["user": "admin"], options: []), tlsAvailable: false, tlsActive: false)
        if authenticated { machine.authenticated() }
        return machine
    }
}

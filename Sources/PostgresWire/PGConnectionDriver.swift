import Logging
import NIOCore
import SQL

/// Drives one connection: decodes the bytes received, asks the state machine what each
/// message means and has the session do it. Output accumulates in `session.out`; the
/// caller writes it after each call (and the session flushes while rows stream).
struct PGConnectionDriver {
    let session: PGSession
    let configuration: PGServerConfiguration
    let processID: Int32
    let secret: Int32
    let registry: PGConnectionRegistry
    let activity: PGActivity
    let logger: Logger
    private var decoder: PGMessageDecoder
    private var authentication: PGAuthentication?
    private var user = ""
    /// Whether the connection runs over TLS (learnt when the start-up packet arrives).
    private let encrypted: @Sendable () async -> Bool

    init(
        session: PGSession, configuration: PGServerConfiguration, processID: Int32, secret: Int32,
        registry: PGConnectionRegistry, activity: PGActivity, logger: Logger, encrypted: @escaping @Sendable () async -> Bool
    ) {
        self.encrypted = encrypted
        self.session = session
        self.configuration = configuration
        self.processID = processID
        self.secret = secret
        self.registry = registry
        self.activity = activity
        self.logger = logger
        decoder = PGMessageDecoder(maxMessageBytes: configuration.maxMessageBytes)
    }

    /// Handles every whole message in `bytes` (and before); false when the connection must close.
    mutating func received(_ bytes: ByteBuffer, flush: (inout ByteBuffer) async throws -> Void) async -> Bool {
        decoder.feed(bytes)
        do {
            while true {
                if session.machine.phase == .startup {
                    guard let request = try decoder.nextStartup() else { return true }
                    let tlsActive = configuration.tls == nil ? false : await encrypted()
                    guard startup(request, tlsActive: tlsActive) else { return false }
                    continue
                }
                guard let decoded = try decoder.next() else { return true }
                switch decoded {
                case .success(let message):
                    guard try await handle(message, flush: flush) else { return false }
                case .failure(let error):
                    PGMetrics.error(error.sqlState)
                    session.fail(PGErrorMapping.fields(error), extendedProtocol: !error.fatal && !error.simpleQuery)
                    if error.fatal || session.machine.phase != .ready { return false }
                    // A malformed Query still ends with ReadyForQuery (PostgreSQL does the same).
                    if error.simpleQuery { PGBackendMessage.readyForQuery(session.machine.transaction).write(into: &session.out) }
                }
            }
        } catch let error as PGFramingError {
            logger.info("pg wire connection closed: \(error.reason)")
            return false
        } catch {
            return false
        }
    }

    private mutating func startup(_ request: PGStartupRequest, tlsActive: Bool) -> Bool {
        // SSLRequests never reach here when TLS is configured (PGTLSNegotiation answers them).
        switch session.machine.startup(request, tlsAvailable: false, tlsActive: tlsActive, tlsRequired: configuration.tlsRequired) {
        case .refuseEncryption:
            session.out.writeInteger(UInt8(ascii: "N"))
            return true
        case .startTLS:
            return false
        case .cancel(let pid, let key):
            PGMetrics.cancelRequested()
            if !registry.cancel(processID: pid, secret: key) {
                logger.info("pg wire cancel request did not match any connection")
            }
            return false
        case .fail(let error):
            session.out.clear()
            PGBackendMessage.error(PGErrorMapping.fields(error)).write(into: &session.out)
            return false
        case .authenticate(let user, let parameters, let negotiate):
            self.user = user
            negotiate?.write(into: &session.out)
            session.applyStartupParameters(parameters)
            let credential = configuration.credentials.first { $0.user == user }
            let authentication = PGAuthentication(user: user, credential: credential, method: configuration.authMethod)
            authentication.request.write(into: &session.out)
            self.authentication = authentication
            return true
        }
    }

    private mutating func handle(_ message: PGFrontendMessage, flush: (inout ByteBuffer) async throws -> Void) async throws -> Bool {
        switch session.machine.receive(message) {
        case .authenticate(let bytes):
            guard var authentication else { return false }
            let step = authentication.receive(bytes)
            self.authentication = authentication
            switch step {
            case .send(let reply):
                reply.write(into: &session.out)
                return true
            case .failed(let error):
                if error.sqlState == "28P01" {
                    PGMetrics.authenticationFailed()
                    logger.warning("pg wire authentication failed", metadata: ["user": "\(user)"])
                }
                PGBackendMessage.error(PGErrorMapping.fields(error)).write(into: &session.out)
                return false
            case .authenticated(let readOnly, let final):
                final?.write(into: &session.out)
                self.authentication = nil
                session.user = user
                session.readOnlyUser = readOnly
                session.machine.authenticated()
                activity.authenticated()
                writeWelcome(readOnly: readOnly)
                return true
            }
        case .process(let message):
            activity.busy(true)
            defer { activity.busy(false) }
            try await process(message, flush: flush)
            return true
        case .ignore:
            return true
        case .sync:
            session.sync()
            return true
        case .terminate:
            return false
        case .fail(let error):
            PGBackendMessage.error(PGErrorMapping.fields(error)).write(into: &session.out)
            return false
        }
    }

    /// AuthenticationOk, ParameterStatus in QuestDB's order plus the replica flags, BackendKeyData, ReadyForQuery.
    private func writeWelcome(readOnly: Bool) {
        PGBackendMessage.authenticationOk.write(into: &session.out)
        let replica = session.engineReadOnly
        let parameters: [(String, String)] = [
            ("TimeZone", "GMT"), ("application_name", "QuestDB"), ("server_version", "11.3"), ("integer_datetimes", "on"),
            ("client_encoding", "UTF8"), ("questdb_version", configuration.releaseVersion),
            ("server_encoding", "UTF8"), ("DateStyle", "ISO, YMD"), ("IntervalStyle", "postgres"),
            ("standard_conforming_strings", "on"), ("is_superuser", "off"), ("session_authorization", user),
            ("in_hot_standby", replica ? "on" : "off"), ("default_transaction_read_only", replica || readOnly ? "on" : "off"),
        ]
        for (name, value) in parameters { PGBackendMessage.parameterStatus(name: name, value: value).write(into: &session.out) }
        PGBackendMessage.backendKeyData(processID: processID, secret: secret).write(into: &session.out)
        PGBackendMessage.readyForQuery(.idle).write(into: &session.out)
    }

    private func process(_ message: PGFrontendMessage, flush: (inout ByteBuffer) async throws -> Void) async throws {
        switch message {
        case .query(let sql):
            PGMetrics.query(.simple)
            try await session.simpleQuery(sql, flush: flush)
        case .parse(let name, let query, let types):
            PGMetrics.query(.parse)
            await session.parse(name: name, query: query, parameterTypes: types)
        case .bind(let bind):
            session.bind(bind)
        case .describe(let target, let name):
            session.describe(target, name: name)
        case .execute(let portal, let maxRows):
            PGMetrics.query(.extended)
            try await session.execute(portal: portal, maxRows: maxRows, flush: flush)
        case .close(let target, let name):
            session.close(target, name: name)
        case .flush:
            try await flush(&session.out)
        case .unsupported(let type) where type == UInt8(ascii: "F"):
            session.fail(PGErrorFields(sqlState: "0A000", message: "the function call protocol is not supported"), extendedProtocol: true)
        case .unsupported:
            // CopyData/CopyDone/CopyFail outside COPY are ignored, as PostgreSQL does: a client
            // may still be sending them after a failed COPY.
            break
        case .sync, .terminate, .authenticationResponse:
            break
        }
    }
}

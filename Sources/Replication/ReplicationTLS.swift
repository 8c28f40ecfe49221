#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization

/// The replication channel's mutual-TLS contexts (TLS 1.3, the cluster CA as the only root),
/// built from three PEM files and rebuilt when they change, so short-lived certificates rotate
/// without a restart (RELIABILITY §4.6, decision 0014).
///
/// A connection takes the contexts current when it opens; established connections keep the
/// session they negotiated. A reload that fails (unreadable file, a key that does not match its
/// certificate — e.g. caught between two writes of a rotation) keeps the previous contexts and
/// is retried when a file changes again.
package final class ReplicationTLS: Sendable {
    package struct Files: Sendable, Equatable {
        package var ca: String
        package var certificate: String
        package var key: String

        package init(ca: String, certificate: String, key: String) {
            self.ca = ca
            self.certificate = certificate
            self.key = key
        }
    }

    /// Which file a load failed on (`Node` names its configuration key).
    package enum File: Sendable { case ca, certificate, key }

    package struct LoadError: Error, Sendable, CustomStringConvertible {
        package var file: File
        package var path: String
        package var reason: String
        package var description: String { "\(path): \(reason)" }
    }

    package struct Contexts: Sendable {
        /// Server side: requires a client certificate signed by the CA (host names of clients
        /// cannot be checked, SWIFT-NOTES).
        package var server: NIOSSLContext
        /// Client side: checks the member's certificate and host name.
        package var client: NIOSSLContext
        /// When this node's own certificate expires (seconds since the epoch).
        package var notValidAfter: Int64
    }

    package enum ReloadOutcome: Sendable {
        case unchanged
        case reloaded(notValidAfter: Int64)
        case failed(LoadError)
    }

    package let files: Files
    private let state: Mutex<(contexts: Contexts, stamps: [FileStamp?])>

    package init(files: Files) throws(LoadError) {
        self.files = files
        let stamps = Self.stamps(files)
        state = Mutex((try Self.load(files), stamps))
    }

    package var contexts: Contexts { state.withLock { $0.contexts } }

    /// Rebuilds the contexts when any file's identity, size or modification time changed since
    /// the last attempt (a Kubernetes secret update swaps a symlink: the identity changes).
    package func reloadIfChanged() -> ReloadOutcome {
        let stamps = Self.stamps(files)
        guard state.withLock({ $0.stamps != stamps }) else { return .unchanged }
        do throws(LoadError) {
            let contexts = try Self.load(files)
            state.withLock { $0 = (contexts, stamps) }
            return .reloaded(notValidAfter: contexts.notValidAfter)
        } catch {
            // Remember the attempt: one error per change, not one per check.
            state.withLock { $0.stamps = stamps }
            return .failed(error)
        }
    }

    /// Reads the CA, the certificate chain and the key and builds both contexts.
    package static func load(_ files: Files) throws(LoadError) -> Contexts {
        let ca: [NIOSSLCertificate], chain: [NIOSSLCertificate], key: NIOSSLPrivateKey
        do { ca = try NIOSSLCertificate.fromPEMFile(files.ca) } catch {
            throw LoadError(file: .ca, path: files.ca, reason: "not a readable PEM certificate (\(error))")
        }
        do { chain = try NIOSSLCertificate.fromPEMFile(files.certificate) } catch {
            throw LoadError(file: .certificate, path: files.certificate, reason: "not a readable PEM certificate chain (\(error))")
        }
        do { key = try NIOSSLPrivateKey(file: files.key, format: .pem) } catch {
            throw LoadError(file: .key, path: files.key, reason: "not a readable PEM private key (\(error))")
        }
        guard !ca.isEmpty else { throw LoadError(file: .ca, path: files.ca, reason: "holds no certificate") }
        guard let leaf = chain.first else {
            throw LoadError(file: .certificate, path: files.certificate, reason: "holds no certificate")
        }
        var server = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        server.certificateVerification = .noHostnameVerification
        server.trustRoots = .certificates(ca)
        server.minimumTLSVersion = .tlsv13
        var client = TLSConfiguration.makeClientConfiguration()
        client.certificateChain = chain.map { .certificate($0) }
        client.privateKey = .privateKey(key)
        client.certificateVerification = .fullVerification
        client.trustRoots = .certificates(ca)
        client.minimumTLSVersion = .tlsv13
        // A connection is closed because its link went silent (the keepalive timeout) far more
        // often than at the end of a healthy one; waiting the default 5 s for the peer's
        // close_notify over a dead link kept the replica "streaming" and nothing reconnecting
        // (the partition test found it). Nothing relies on close_notify: every chunk carries
        // its own checksums and txn range, and a session resumes from the durable txn.
        server.shutdownTimeout = .milliseconds(500)
        client.shutdownTimeout = .milliseconds(500)
        do {
            return Contexts(
                server: try NIOSSLContext(configuration: server), client: try NIOSSLContext(configuration: client),
                notValidAfter: Int64(leaf.notValidAfter))
        } catch {
            throw LoadError(file: .key, path: files.key, reason: "the certificate and key do not make a TLS context (\(error))")
        }
    }

    struct FileStamp: Equatable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modifiedSeconds: Int
        var modifiedNanoseconds: Int
    }

    private static func stamps(_ files: Files) -> [FileStamp?] {
        [files.ca, files.certificate, files.key].map { path in
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            return FileStamp(
                device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
                modifiedSeconds: info.st_mtim.tv_sec, modifiedNanoseconds: info.st_mtim.tv_nsec)
        }
    }
}

/// Checks the replication certificate files every `replication.tls.reload.interval` and swaps
/// in new contexts when they changed; logs each outcome once and exports the certificate's
/// expiry so an alert can fire before it lapses.
package struct ReplicationTLSReloader: Service {
    let tls: ReplicationTLS
    let intervalMillis: Int
    let logger: Logger

    package init(tls: ReplicationTLS, intervalMillis: Int, logger: Logger) {
        self.tls = tls
        self.intervalMillis = intervalMillis
        self.logger = logger
    }

    package func run() async throws {
        ReplicationMetrics.certificateExpiry(tls.contexts.notValidAfter)
        await cancelWhenGracefulShutdown {
            // Runs until shutdown even when reloading is off: a service that returns ends the node.
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(intervalMillis > 0 ? intervalMillis : 60_000))
                if intervalMillis > 0 { check() }
            }
        }
    }

    func check() {
        switch tls.reloadIfChanged() {
        case .unchanged:
            return
        case .reloaded(let notValidAfter):
            ReplicationMetrics.tlsReloaded(ok: true)
            ReplicationMetrics.certificateExpiry(notValidAfter)
            logger.notice(
                "replication TLS certificates reloaded; new connections use them",
                metadata: ["cert": "\(tls.files.certificate)", "not-valid-after": "\(notValidAfter)"])
        case .failed(let error):
            ReplicationMetrics.tlsReloaded(ok: false)
            logger.error(
                "replication TLS certificates changed but cannot be loaded; the previous ones stay in use",
                metadata: ["error": "\(error)"])
        }
    }
}

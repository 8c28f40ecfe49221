import COpenSSL
import NIOCore
import NIOSSL
import NIOTLS
import Storage

/// Optional public-key pins on the replication channel (`replication.tls.pins`): on top of the
/// cluster CA, the peer's leaf certificate must carry one of these SubjectPublicKeyInfo
/// SHA-256 hashes, written `sha256/BASE64` as HPKP did (`openssl x509 -pubkey -noout -in c.pem |
/// openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`). A CA that signs
/// a certificate it should not have cannot impersonate a member then; re-keying a node means
/// adding its new pin everywhere first.
package struct SPKIPins: Sendable, Equatable {
    /// Raw 32-byte hashes.
    package var hashes: Set<[UInt8]>

    package init(hashes: Set<[UInt8]>) {
        self.hashes = hashes
    }

    /// Parses `sha256/BASE64[,…]`; `nil` names the bad entry.
    package static func parse(_ text: String) -> Result<SPKIPins, PinError> {
        var hashes = Set<[UInt8]>()
        for entry in text.split(separator: ",").map({ String($0.filter { $0 != " " }) }) where !entry.isEmpty {
            guard entry.hasPrefix("sha256/"), let hash = Base64.decode(entry.dropFirst(7)), hash.count == 32 else {
                return .failure(PinError(entry: entry))
            }
            hashes.insert(hash)
        }
        return .success(SPKIPins(hashes: hashes))
    }

    package struct PinError: Error, Sendable {
        package var entry: String
    }

    /// The pin of a certificate: SHA-256 of its DER SubjectPublicKeyInfo.
    package static func pin(of certificate: NIOSSLCertificate) throws -> [UInt8] {
        let spki = try certificate.extractPublicKey().toSPKIBytes()
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        guard EVP_Digest(spki, spki.count, &out, &length, EVP_sha256(), nil) == 1, length == 32 else {
            throw ReplicationProtocolError.refused("cannot hash the peer's public key")
        }
        return out
    }

    package func admits(_ certificate: NIOSSLCertificate?) -> Bool {
        guard let certificate, let pin = try? Self.pin(of: certificate) else { return false }
        return hashes.contains(pin)
    }
}

/// Checks the pins once the TLS handshake is done, before any replication frame is read: a
/// peer whose key is not pinned is disconnected (RELIABILITY: refuse, log, count).
final class SPKIPinCheck: ChannelInboundHandler {
    typealias InboundIn = NIOAny
    private let pins: SPKIPins

    init(pins: SPKIPins) {
        self.pins = pins
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            let certificate = try? context.pipeline.syncOperations.handler(type: NIOSSLHandler.self).peerCertificate
            guard pins.admits(certificate) else {
                context.fireErrorCaught(ReplicationProtocolError.refused(
                    "the peer's certificate key is not in replication.tls.pins"))
                context.close(promise: nil)
                return
            }
        }
        context.fireUserInboundEventTriggered(event)
    }
}

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

/// The identity a member's certificate gives it: the subject's common name (`make-certs.sh`
/// writes the member name there), stable across re-keying and short-lived re-issues.
package enum CertificateName {
    package static func commonName(of certificate: NIOSSLCertificate) -> String? {
        guard let der = try? certificate.toDERBytes() else { return nil }
        return der.withUnsafeBufferPointer { buffer -> String? in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            guard let x509 = d2i_X509(nil, &cursor, buffer.count) else { return nil }
            defer { X509_free(x509) }
            guard let subject = X509_get_subject_name(x509) else { return nil }
            let index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1)
            guard index >= 0, let entry = X509_NAME_get_entry(subject, index),
                  let data = X509_NAME_ENTRY_get_data(entry) else { return nil }
            var utf8: UnsafeMutablePointer<UInt8>?
            let length = ASN1_STRING_to_UTF8(&utf8, data)
            guard length >= 0, let utf8 else { return nil }
            defer { CRYPTO_free(utf8, #file, #line) }
            return String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)
        }
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

import COpenSSL

/// ECDSA P-256 with SHA-256 signature checks through the system libcrypto: the ILP over TCP
/// challenge (QUESTDB-COMPAT §2.3). Accepts the raw 64-byte r‖s form (IEEE P1363: the
/// Rust, C and Python clients) and DER (Java), told apart by length as QuestDB does.
package struct ECDSAP256PublicKey: Sendable {
    /// The public key as a DER SubjectPublicKeyInfo (what `d2i_PUBKEY` reads).
    private let subjectPublicKeyInfo: [UInt8]

    /// SubjectPublicKeyInfo header of an uncompressed P-256 point (id-ecPublicKey, prime256v1).
    private static let spkiPrefix: [UInt8] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01,
        0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
    ]

    /// The key from its affine coordinates (32 bytes each, big-endian); `nil` when the point
    /// is not on the curve.
    package init?(x: [UInt8], y: [UInt8]) {
        guard x.count == 32, y.count == 32 else { return nil }
        subjectPublicKeyInfo = Self.spkiPrefix + x + y
        guard withKey({ _ in true }) == true else { return nil }
    }

    /// Whether `signature` is a valid signature of `message` by this key.
    package func verify(signature: [UInt8], of message: [UInt8]) -> Bool {
        let der: [UInt8]
        if signature.count == 64 {
            guard let converted = Self.derSignature(r: Array(signature[0..<32]), s: Array(signature[32..<64])) else { return false }
            der = converted
        } else {
            der = signature
        }
        return withKey { key in
            guard let context = EVP_MD_CTX_new() else { return false }
            defer { EVP_MD_CTX_free(context) }
            guard EVP_DigestVerifyInit(context, nil, EVP_sha256(), nil, key) == 1 else { return false }
            return der.withUnsafeBufferPointer { sig in
                message.withUnsafeBufferPointer { msg in
                    EVP_DigestVerify(context, sig.baseAddress, sig.count, msg.baseAddress, msg.count) == 1
                }
            }
        } ?? false
    }

    private func withKey<R>(_ body: (OpaquePointer) -> R) -> R? {
        subjectPublicKeyInfo.withUnsafeBufferPointer { buffer -> R? in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            guard let key = d2i_PUBKEY(nil, &cursor, buffer.count) else { return nil }
            defer { EVP_PKEY_free(key) }
            return body(key)
        }
    }

    /// r‖s as the DER `ECDSA-Sig-Value` libcrypto verifies.
    private static func derSignature(r: [UInt8], s: [UInt8]) -> [UInt8]? {
        guard let signature = ECDSA_SIG_new() else { return nil }
        defer { ECDSA_SIG_free(signature) }
        guard let rNumber = BN_bin2bn(r, Int32(r.count), nil) else { return nil }
        guard let sNumber = BN_bin2bn(s, Int32(s.count), nil) else {
            BN_free(rNumber)
            return nil
        }
        guard ECDSA_SIG_set0(signature, rNumber, sNumber) == 1 else {
            BN_free(rNumber)
            BN_free(sNumber)
            return nil
        }
        let length = i2d_ECDSA_SIG(signature, nil)
        guard length > 0 else { return nil }
        var der = [UInt8](repeating: 0, count: Int(length))
        let written = der.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return i2d_ECDSA_SIG(signature, &cursor)
        }
        return written == length ? der : nil
    }
}

/// Cryptographically secure random bytes from libcrypto.
package enum SecureRandom {
    package static func bytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let status = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(status == 1, "the system random source failed")
        return bytes
    }
}

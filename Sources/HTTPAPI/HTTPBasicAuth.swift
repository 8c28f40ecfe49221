import NIOHTTP1

/// HTTP Basic authentication as QuestDB OSS does it (`http.user`/`http.password`): every
/// route but the open ones (`/ping`, `GET /settings`) needs the credentials; anything else is
/// `401 Unauthorized` with the body `Unauthorized`.
package struct HTTPBasicAuth: Sendable, CustomStringConvertible, CustomReflectable {
    private let expected: [UInt8]

    /// Never the credentials: service descriptions are logged at debug level.
    package var description: String { "HTTPBasicAuth(configured)" }
    package var customMirror: Mirror { Mirror(self, children: []) }

    package init(user: String, password: String) {
        expected = Array(Self.header(user: user, password: password).utf8)
    }

    /// The `Authorization` header value a client sends (`sundial promote --user …`).
    package static func header(user: String, password: String) -> String {
        "Basic " + Base64.encode(Array("\(user):\(password)".utf8))
    }

    /// Whether the request carries the credentials. Compared in constant time, so the time
    /// to answer does not tell how much of a guess was right.
    package func admits(_ headers: HTTPHeaders) -> Bool {
        guard let header = headers.first(name: "authorization") else { return false }
        let given = Array(header.utf8)
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        for index in expected.indices {
            difference |= expected[index] ^ (index < given.count ? given[index] : 0)
        }
        return difference == 0
    }

    static let unauthorized: HTTPResponse = {
        var response = HTTPResponse.text(.unauthorized, "Unauthorized")
        response.headers.add(name: "www-authenticate", value: "Basic realm=\"questdb\"")
        return response
    }()
}

/// Standard base64 with padding (RFC 4648 §4).
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let b0 = bytes[index]
            let b1 = index + 1 < bytes.count ? bytes[index + 1] : 0
            let b2 = index + 2 < bytes.count ? bytes[index + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            out.append(index + 1 < bytes.count ? alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(index + 2 < bytes.count ? alphabet[Int(b2 & 0x3F)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}

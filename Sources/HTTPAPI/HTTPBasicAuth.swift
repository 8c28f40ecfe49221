import NIOHTTP1
import Storage

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


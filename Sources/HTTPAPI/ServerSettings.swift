/// The document `GET /settings` serves. Every official ILP client reads it first to pick a
/// protocol version and its name-length limit (QUESTDB-COMPAT §3.6), so its shape and key
/// order follow QuestDB's OSS payload byte for byte.
package struct ServerSettings: Sendable {
    package var releaseVersion: String
    /// Transports that accept writes on this node (`http`, `tcp`, `pgwire`); empty on a replica.
    package var acceptingWrites: [String]
    package var lineProtocolVersions: [Int]
    /// Becomes the clients' `max_name_len`.
    package var maxFileNameLength: Int
    /// QuestDB adds `acl.enabled` when `http.user` is set.
    package var authenticationEnabled: Bool

    package init(
        releaseVersion: String, acceptingWrites: [String] = ["http", "tcp", "pgwire"],
        lineProtocolVersions: [Int] = [1, 2, 3], maxFileNameLength: Int = 127, authenticationEnabled: Bool = false
    ) {
        self.releaseVersion = releaseVersion
        self.acceptingWrites = acceptingWrites
        self.lineProtocolVersions = lineProtocolVersions
        self.maxFileNameLength = maxFileNameLength
        self.authenticationEnabled = authenticationEnabled
    }

    /// The JSON text, formatted as QuestDB formats it (note the `", "` inside string arrays).
    package func json() -> String {
        let writes = acceptingWrites.map { "\"\($0)\"" }.joined(separator: ", ")
        let versions = lineProtocolVersions.map(String.init).joined(separator: ",")
        var config = #"{"release.type":"OSS","release.version":"\#(releaseVersion)","#
        if authenticationEnabled { config += #""acl.enabled":true,"# }
        config += #""http.settings.readonly":false,"accepting.writes":[\#(writes)],"#
        config += #""line.proto.support.versions":[\#(versions)],"ilp.proto.transports":["tcp", "http"],"#
        config += #""posthog.enabled":false,"posthog.api.key":null,"cairo.max.file.name.length":\#(maxFileNameLength)}"#
        return #"{"config":\#(config),"preferences.version":0,"preferences":{}}"#
    }
}

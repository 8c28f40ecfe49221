// Proves /settings is QuestDB's OSS payload byte for byte, which official ILP clients parse first.
import HTTPAPI
import Testing

@Suite struct ServerSettingsTests {
    @Test func matchesQuestDBsOSSPayload() {
        // SettingsEndpointTest.OSS_PAYLOAD (QUESTDB-COMPAT §3.6), with QuestDB's development version string.
        let expected = #"{"config":{"release.type":"OSS","release.version":"[DEVELOPMENT]","http.settings.readonly":false,"accepting.writes":["http", "tcp", "pgwire"],"line.proto.support.versions":[1,2,3],"ilp.proto.transports":["tcp", "http"],"posthog.enabled":false,"posthog.api.key":null,"cairo.max.file.name.length":127},"preferences.version":0,"preferences":{}}"#
        #expect(ServerSettings(releaseVersion: "[DEVELOPMENT]").json() == expected)
    }

    @Test func aReadOnlyNodeAcceptsNoWritesAndAuthAddsACLFlag() {
        let json = ServerSettings(releaseVersion: "1", acceptingWrites: [], authenticationEnabled: true).json()
        #expect(json.contains(#""accepting.writes":[]"#))
        #expect(json.contains(#""acl.enabled":true"#))
    }
}

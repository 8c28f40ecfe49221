// Proves server.conf is read as Java properties the way QuestDB reads it.
import Node
import Testing

@Suite struct PropertiesFileTests {
    @Test func readsEntriesCommentsAndSeparators() {
        let text = """
            # comment
            ! also a comment

            http.net.bind.to=0.0.0.0:9000
              pg.user : admin
            log.level   debug
            line.http.ping.version = v1 \\
                continued
            empty.key=
            windows.line=x\r
            """
        let entries = PropertiesFile.parse(text)
        #expect(entries == [
            .init(key: "http.net.bind.to", value: "0.0.0.0:9000", line: 4),
            .init(key: "pg.user", value: "admin", line: 5),
            .init(key: "log.level", value: "debug", line: 6),
            .init(key: "line.http.ping.version", value: "v1 continued", line: 7),
            .init(key: "empty.key", value: "", line: 9),
            .init(key: "windows.line", value: "x", line: 10),
        ])
    }

    @Test func anEscapedBackslashDoesNotContinue() {
        let entries = PropertiesFile.parse("a=x\\\\\nb=y")
        #expect(entries.map(\.key) == ["a", "b"])
    }
}

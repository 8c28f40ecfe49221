// Proves Docs/configuration.md documents every configuration key with its default and environment variable.
import Node
import Storage
import Testing

@Suite struct ConfigurationDocumentationTests {
    @Test func everyKeyIsDocumented() throws {
        let root = DurableFile.parentDirectory(of: DurableFile.parentDirectory(of: DurableFile.parentDirectory(of: #filePath)))
        let bytes = try #require(try DurableFile.read(root + "/Docs/configuration.md", maxBytes: 1 << 20))
        let document = String(decoding: bytes, as: UTF8.self)
        for key in ConfigurationKey.all {
            let row = "| `\(key.name)` | `\(key.defaultValue)` | `\(ConfigurationKey.environmentName(of: key.name))` |"
            #expect(document.contains(row), "Docs/configuration.md lacks the row starting \(row)")
        }
    }
}

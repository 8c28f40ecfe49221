// Proves request targets split into path and decoded parameters, and malformed escapes are refused.
import HTTPAPI
import Testing

@Suite struct HTTPRequestTargetTests {
    @Test func decodesPathAndParameters() throws {
        let target = try #require(HTTPRequestTarget("/exec?query=select%201+as%20x&limit=10&query=second&flag"))
        #expect(target.path == "/exec")
        #expect(target.parameter("query") == "select 1 as x")
        #expect(target.parameter("limit") == "10")
        #expect(target.parameter("flag") == "")
        #expect(target.parameter("missing") == nil)
    }

    @Test func plusIsLiteralInThePath() throws {
        #expect(try #require(HTTPRequestTarget("/a+b%2Fc")).path == "/a+b/c")
    }

    @Test(arguments: ["/%zz", "/%4", "/?q=%", "/?q=%ff%fe"])
    func malformedEscapesAreRefused(target: String) {
        #expect(HTTPRequestTarget(target) == nil)
    }
}

// Output column names: aliases, else QuestDB's defaults, made unique case-insensitively with a
// numeric suffix (a suffixed name may itself collide and take another).
@testable import SQL
import Testing

@Suite struct OutputNamesTests {
    static func names(_ items: [(String, String?)]) -> [String] {
        QueryExecutor.outputNames(items.map { name, alias in
            SelectQuery.Item(expression: SQLExpression(.column(qualifier: nil, name: name), at: 0), alias: alias)
        })
    }

    @Test func uniqueNamesStayAsTheyAre() {
        let columns = (0..<40).map { ("Col\($0)", nil as String?) }
        #expect(Self.names(columns) == columns.map(\.0))
    }

    @Test func duplicatesTakeSuffixesIgnoringCase() {
        #expect(Self.names([("a", nil), ("A", nil), ("a1", nil)]) == ["a", "A1", "a11"])
        #expect(Self.names([("x", nil), ("y", "X"), ("z", "x")]) == ["x", "X1", "x2"])
        #expect(Self.names([("ts", nil), ("ts", nil), ("ts", nil)]) == ["ts", "ts1", "ts2"])
    }

    @Test func nonASCIINamesFoldAsTheScopeDoes() {
        #expect(Self.names([("Émile", nil), ("émile", nil), ("ÉMILE", nil)]) == ["Émile", "émile1", "ÉMILE2"])
        #expect(Self.names([("über", nil), ("uber", nil)]) == ["über", "uber"])
    }
}

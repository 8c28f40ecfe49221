// Proves the row writer sets a known series' tags by key (the parser's series memo and the writer's LineSeriesKeys): lines repeating a series get exactly the tags the per-tag path gives — duplicate tags, escapes, tags into non-SYMBOL columns, a field naming a tag's column, rows that fail, columns added mid-batch, and keys that change from one request's batch to the next.
import LineProtocol
import Storage
import Testing
import TestSupport

@Suite struct LineSeriesMemoTests {
    /// The tag and field columns of `table`'s rows, in row order.
    static func values(_ fixture: IngestFixture, _ table: String, _ columns: [String]) async throws -> [[String?]] {
        try await fixture.rows(table).map { row in columns.map { row[$0] ?? nil } }
    }

    @Test func repeatedSeriesGetTheirOwnTags() async throws {
        let fixture = try IngestFixture()
        let hosts = (0..<300).map { ["h\($0 % 7)", "r\($0 % 7 % 3)", "d\($0 % 2)"] }
        let text = hosts.enumerated().map { "cpu,host=\($1[0]),region=\($1[1]) dc=\"\($1[2])\",v=\($0)i \($0 + 1)000\n" }.joined()
        #expect(await fixture.ingest(text) == nil)
        let rows = try await Self.values(fixture, "cpu", ["host", "region", "v"])
        #expect(rows == hosts.enumerated().map { [$1[0], $1[1], "\($0)"] })
    }

    /// More distinct tag sections in one batch than the memory holds: the first ones are
    /// remembered, the rest take the per-tag path, every row gets its own tags.
    @Test func moreSeriesThanTheMemoryHolds() async throws {
        let fixture = try IngestFixture()
        let count = 5_000
        let text = (0..<2 * count).map { "w,a=a\($0 % count),b=b\($0 % count % 11) v=\($0)i \($0 + 1)000\n" }.joined()
        #expect(await fixture.ingest(text) == nil)
        let rows = try await Self.values(fixture, "w", ["a", "b", "v"])
        #expect(rows == (0..<2 * count).map { ["a\($0 % count)", "b\($0 % count % 11)", "\($0)"] })
    }

    /// Shapes the memory must not change: the first of two values for one column counts, an
    /// escaped value is stored unescaped, a field naming a tag's column is ignored, and a tag
    /// section of one table means nothing for another.
    @Test func unusualTagSectionsGiveTheSameRows() async throws {
        let fixture = try IngestFixture()
        let lines = [
            "a,k=x,k=y v=1i 1000", "a,k=x,k=y v=2i 2000",
            "a,k=p\\ q,j=z v=3i 3000", "a,k=p\\ q,j=z v=4i 4000",
            "a,k=x,j=z j=\"field\",v=5i 5000", "a,k=x,j=z j=\"field\",v=6i 6000",
            "b,k=x,j=z v=7i 7000", "b,k=x,j=z v=8i 8000",
            "a,j=z,k=x v=9i 9000", "a,j=z,k=x v=10i 10000",
        ]
        #expect(await fixture.ingest(lines.joined(separator: "\n") + "\n") == nil)
        #expect(try await Self.values(fixture, "a", ["k", "j", "v"]) == [
            ["x", nil, "1"], ["x", nil, "2"], ["p q", "z", "3"], ["p q", "z", "4"], ["x", "z", "5"], ["x", "z", "6"],
            ["x", "z", "9"], ["x", "z", "10"],
        ])
        #expect(try await Self.values(fixture, "b", ["k", "j", "v"]) == [["x", "z", "7"], ["x", "z", "8"]])
    }

    /// A tag into a VARCHAR column goes through the cast path every time, and its SYMBOL
    /// neighbours still come out right.
    @Test func aTagIntoAnotherTypeIsWrittenEachTime() async throws {
        let fixture = try IngestFixture()
        _ = try await fixture.engine.createTable(TableSchema(
            tableID: 0, name: "m",
            columns: [
                ColumnSchema(id: 1, name: "s", type: .symbol), ColumnSchema(id: 2, name: "t", type: .varchar),
                ColumnSchema(id: 3, name: "v", type: .long), ColumnSchema(id: 4, name: "ts", type: .timestamp),
            ],
            designatedTimestamp: 4, partitionBy: .day))
        let text = (0..<6).map { "m,s=s\($0 % 2),t=t\($0 % 2) v=\($0)i \($0 + 1)000\n" }.joined()
        #expect(await fixture.ingest(text) == nil)
        #expect(try await Self.values(fixture, "m", ["s", "t", "v"]) == (0..<6).map { ["s\($0 % 2)", "t\($0 % 2)", "\($0)"] })
    }

    /// A failed line after its series was remembered, and a column added mid-request (the
    /// table's layout changes under the remembered positions), leave later rows right.
    @Test func failedRowsAndAddedColumnsKeepLaterRowsRight() async throws {
        let fixture = try IngestFixture()
        #expect(await fixture.ingest("f,h=a,r=b v=1i 1000\nf,h=c,r=d v=2i 2000\n") == nil)
        let failed = await fixture.ingest("f,h=a,r=b v=3i 3000\nf,h=a,r=b v=\"text\" 4000\n")
        #expect(failed != nil)
        let lines = [
            "f,h=c,r=d v=5i 5000", "f,h=a,r=b v=6i 6000",
            "f,h=a,r=b,new=n v=7i 7000", "f,h=c,r=d v=8i 8000", "f,h=a,r=b v=9i 9000",
        ]
        #expect(await fixture.ingest(lines.joined(separator: "\n") + "\n") == nil)
        #expect(try await Self.values(fixture, "f", ["h", "r", "new", "v"]) == [
            ["a", "b", nil, "1"], ["c", "d", nil, "2"], ["c", "d", nil, "5"], ["a", "b", nil, "6"],
            ["a", "b", "n", "7"], ["c", "d", nil, "8"], ["a", "b", nil, "9"],
        ])
    }

    /// One pooled ingestor for several requests: each commit starts a new batch whose entry
    /// keys are numbered afresh, in another order here, so keys remembered from the previous
    /// request would name other values.
    @Test func keysFromAnEarlierBatchAreNeverReused() async throws {
        let fixture = try IngestFixture()
        let ingestion = LineIngestion(engine: fixture.engine, configuration: fixture.configuration, nowNanos: { IngestFixture.now })
        func lines(_ rows: [(String, Int)]) -> String { rows.map { "s,h=\($0.0),z=q v=\($0.1)i \($0.1)000\n" }.joined() }
        let first = try await fixture.pooledRequest(ingestion, lines([("one", 1), ("two", 2), ("one", 3)]))
        let second = try await fixture.pooledRequest(ingestion, lines([("two", 4), ("three", 5), ("one", 6), ("two", 7)]))
        #expect(first === second, "the pool hands the same ingestor back")
        #expect(try await Self.values(fixture, "s", ["h", "v"]) == [
            ["one", "1"], ["two", "2"], ["one", "3"], ["two", "4"], ["three", "5"], ["one", "6"], ["two", "7"],
        ])
    }
}

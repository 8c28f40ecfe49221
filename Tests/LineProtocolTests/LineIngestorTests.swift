// Lines into tables through a real storage engine (QUESTDB-COMPAT §1.4–§1.5): auto-created
// schemas, added columns, the cast table with its range checks and error texts, designated
// timestamps in every unit, duplicate fields, and all-or-nothing requests.
import LineProtocol
import NIOCore
import Storage
import Testing
import TestSupport

/// A storage engine in a temporary directory with an HTTP-style ingest helper.
final class IngestFixture {
    let directory = TemporaryDirectory()
    let engine: StorageEngine
    let opened: OpenDataDirectory
    var configuration = LineIngestConfiguration()
    static let now: Int64 = 1_700_000_000_123_456_789

    init() throws {
        let layout = DataDirectory(root: directory.path)
        opened = try layout.open(initialRole: .standalone)
        engine = try StorageEngine(layout: layout, configuration: StorageConfiguration())
    }

    /// Ingests `text` as one HTTP request would: all lines, then one commit per table.
    /// Returns the error, or `nil` after the commit.
    @discardableResult
    func ingest(_ text: String, unit: LineTimestampUnit = .nanos, cuts: [Int] = []) async -> LineIngestError? {
        await ingest(bytes: Array(text.utf8), unit: unit, cuts: cuts)
    }

    @discardableResult
    func ingest(bytes: [UInt8], unit: LineTimestampUnit = .nanos, cuts: [Int] = []) async -> LineIngestError? {
        let ingestion = LineIngestion(engine: engine, configuration: configuration, nowNanos: { Self.now })
        let ingestor = ingestion.makeIngestor()
        var stream = LineStream(maxLineBytes: configuration.maxLineBytes)
        var start = 0
        do throws(LineIngestError) {
            for end in cuts + [bytes.count] {
                stream.feed(ByteBuffer(bytes: bytes[start..<end]))
                start = end
                try await LineIngestion.drain(&stream, into: ingestor, defaultUnit: unit)
            }
            stream.finish()
            try await LineIngestion.drain(&stream, into: ingestor, defaultUnit: unit)
            try await ingestor.commitAll()
            return nil
        } catch {
            ingestor.discardAll()
            return error
        }
    }

    /// One HTTP-style request through the ingestor pool; returns the ingestor it used.
    func pooledRequest(_ ingestion: LineIngestion, _ text: String) async throws -> LineIngestor {
        let ingestor = ingestion.borrowIngestor()
        defer { ingestion.recycle(ingestor) }
        var stream = LineStream(maxLineBytes: 1 << 16)
        stream.feed(ByteBuffer(string: text))
        stream.finish()
        try await LineIngestion.drain(&stream, into: ingestor, defaultUnit: .nanos)
        try await ingestor.commitAll()
        return ingestor
    }

    func columns(_ table: String) -> [String] {
        engine.schema(named: table)?.columns.map { "\($0.name) \($0.type)" } ?? []
    }

    func rows(_ table: String) async throws -> [[String: String?]] {
        await engine.waitUntilApplied(engine.wal.committedTxn)
        guard let snapshot = engine.snapshot(ofTable: table) else { return [] }
        return try SnapshotText.rows(snapshot)
    }
}

@Suite struct LineIngestorTests {
    @Test func aNewTableTakesColumnsInFirstSeenOrderWithTimestampLast() async throws {
        let fixture = try IngestFixture()
        // The c-client system test `test_insert_three_rows` checks exactly this schema.
        #expect(await fixture.ingest("t,name_a=val_a name_b=t,name_c=42i,name_d=2.5,name_e=\"val_b\"\n") == nil)
        #expect(fixture.columns("t") == [
            "name_a SYMBOL", "name_b BOOLEAN", "name_c LONG", "name_d DOUBLE", "name_e VARCHAR", "timestamp TIMESTAMP",
        ])
        #expect(fixture.engine.schema(named: "t")?.partitionBy == .day)
        let rows = try await fixture.rows("t")
        #expect(rows == [[
            "name_a": "val_a", "name_b": "true", "name_c": "42", "name_d": "2.5", "name_e": "val_b",
            "timestamp": "\(IngestFixture.now / 1000)",
        ]])
    }

    @Test func designatedTimestampUnitsAndTypes() async throws {
        let fixture = try IngestFixture()
        #expect(await fixture.ingest("a v=1i 1700000000000000000\na v=2i 1700000000000001t\na v=3i 1700000000001m\n") == nil)
        #expect(fixture.columns("a").last == "timestamp TIMESTAMP")
        #expect(try await fixture.rows("a").map { $0["timestamp"]! } == ["1700000000000000", "1700000000000001", "1700000000001000"])
        // An `n` suffix on the first line makes the designated timestamp TIMESTAMP_NS.
        #expect(await fixture.ingest("b v=1i 1700000000000000001n\n") == nil)
        #expect(fixture.columns("b").last == "timestamp TIMESTAMP_NS")
        #expect(try await fixture.rows("b").map { $0["timestamp"]! } == ["1700000000000000001"])
        // HTTP precision applies to bare timestamps only.
        #expect(await fixture.ingest("c v=1i 1700000000\nc v=2i 5t\n", unit: .seconds) == nil)
        #expect(try await fixture.rows("c").map { $0["timestamp"]! } == ["5", "1700000000000000"])
        // A field called `timestamp` is the designated timestamp, and wins over the trailing one.
        #expect(await fixture.ingest("d v=1i,timestamp=1700000000000000t 1\n") == nil)
        #expect(fixture.columns("d") == ["v LONG", "timestamp TIMESTAMP"])
        #expect(try await fixture.rows("d").map { $0["timestamp"]! } == ["1700000000000000"])
    }

    @Test func designatedTimestampErrors() async throws {
        let fixture = try IngestFixture()
        #expect(await fixture.ingest("a v=1i 1\n") == nil)
        let negative = await fixture.ingest("a v=1i -1\n")
        #expect(negative?.message == "table: a, timestamp: -1; designated timestamp before 1970-01-01 is not allowed")
        #expect(negative?.kind == .invalidLine && negative?.line == 1)
        let overflow = await fixture.ingest("a v=1i 9223372036854775807\n", unit: .seconds)
        #expect(overflow?.message == "table: a, timestamp: 9223372036854775807; designated timestamp overflow")
        #expect(await fixture.ingest("a v=1i 253402300799999999t\n") == nil)
        #expect(await fixture.ingest("a v=1i 253402300800000000t\n")?.message
            == "table: a, timestamp: 253402300800000000; designated timestamp beyond 9999-12-31 is not allowed")
        #expect(await fixture.ingest("a v=1i,timestamp=-5t\n")?.message
            == "table: a, timestamp: -5; designated timestamp before 1970-01-01 is not allowed")
        #expect(await fixture.ingest("n v=1i 9214646399999999999n\n") == nil)
        #expect(await fixture.ingest("n v=1i 9214646400000000000n\n")?.message
            == "table: n, timestamp: 9214646400000000000; designated timestamp beyond 2261-12-31 is not allowed")
    }

    @Test func newColumnsAreAddedAfterExistingOnesAndMissingOnesAreNull() async throws {
        let fixture = try IngestFixture()
        #expect(await fixture.ingest("t,s=a x=1i 10\nt,s=b,u=c y=2.5,z=\"q\" 20\nt x=3i 30\n") == nil)
        #expect(fixture.columns("t") == ["s SYMBOL", "x LONG", "timestamp TIMESTAMP", "u SYMBOL", "y DOUBLE", "z VARCHAR"])
        let rows = try await fixture.rows("t")
        #expect(rows.count == 3)
        #expect(rows[0] == ["s": "a", "x": "1", "timestamp": "0", "u": nil, "y": nil, "z": nil])
        #expect(rows[1] == ["s": "b", "x": nil, "timestamp": "0", "u": "c", "y": "2.5", "z": "q"])
        #expect(rows[2] == ["s": nil, "x": "3", "timestamp": "0", "u": nil, "y": nil, "z": nil])
    }

    @Test func namesMatchIgnoringCaseAndDuplicatesKeepTheFirst() async throws {
        let fixture = try IngestFixture()
        #expect(await fixture.ingest("Trades Price=1.5 1000\ntrades price=2.5,PRICE=9.5 2000\n") == nil)
        #expect(fixture.columns("trades") == ["Price DOUBLE", "timestamp TIMESTAMP"])
        #expect(try await fixture.rows("TRADES").map { $0["Price"]! } == ["1.5", "2.5"])
        // Every shape: the first value counts, whether the later one takes the fast path or a cast.
        #expect(await fixture.ingest("d,s=a v=1i,w=1.5,v=2i,w=2.5 1000\nd,s=b,s=c v=3i,v=4.5,w=5i,w=6.5,s=\"x\" 2000\n") == nil)
        #expect(try await fixture.rows("d").map { [$0["s"]!, $0["v"]!, $0["w"]!] } == [["a", "1", "1.5"], ["b", "3", "5.0"]])
    }

    @Test func aBadLineFailsTheWholeRequestButAddedColumnsStay() async throws {
        let fixture = try IngestFixture()
        #expect(await fixture.ingest("t a=1i 1000\n") == nil)
        let error = await fixture.ingest("t a=2i 2000\nt a=3i,b=1.5 3000\nt a=x 4000\n")
        #expect(error?.line == 3)
        #expect(error?.message == "Could not parse entire line, field value is invalid. Field: a; value: x")
        #expect(try await fixture.rows("t").count == 1)
        #expect(fixture.columns("t") == ["a LONG", "timestamp TIMESTAMP", "b DOUBLE"])
    }

    /// Lines are written in one pass: a field that cannot be cast fails its line before any
    /// column named after it is added; a new column named before it is added first (QuestDB
    /// adds the columns it meets before the failing field).
    @Test func aCastErrorStopsTheColumnsAfterItButNotThoseBefore() async throws {
        let fixture = try IngestFixture()
        #expect(await fixture.ingest("t a=1i 1000\n") == nil)
        let before = await fixture.ingest("t a=1.5,late=2i 2000\n")
        #expect(before?.message == "table: t, column: a; cast error from protocol type: FLOAT to column type: LONG")
        #expect(fixture.columns("t") == ["a LONG", "timestamp TIMESTAMP"])
        let after = await fixture.ingest("t early=2i,a=1.5 3000\n")
        #expect(after?.message == "table: t, column: a; cast error from protocol type: FLOAT to column type: LONG")
        #expect(fixture.columns("t") == ["a LONG", "timestamp TIMESTAMP", "early LONG"])
        #expect(try await fixture.rows("t").count == 1)
    }

    @Test func aRequestOverSeveralTablesIsOneTransaction() async throws {
        let fixture = try IngestFixture()
        #expect(await fixture.ingest("a x=1i 1000\nb y=2i 1000\n") == nil)
        let before = fixture.engine.wal.committedTxn
        #expect(await fixture.ingest("a x=3i 2000\nb y=4i 2000\na x=5i 3000\n") == nil)
        #expect(fixture.engine.wal.committedTxn == before + 1)
        #expect(try await fixture.rows("a").map { $0["x"]! } == ["1", "3", "5"])
        #expect(try await fixture.rows("b").map { $0["y"]! } == ["2", "4"])
        // A bad line in the second table: nothing of the first is committed either.
        #expect(await fixture.ingest("a x=6i 4000\nb y=\"s\" 4000\n")?.line == 2)
        #expect(try await fixture.rows("a").count == 3)
    }

    @Test func reusedIngestorsFollowTablesDroppedAndChangedBetweenRequests() async throws {
        let fixture = try IngestFixture()
        let ingestion = LineIngestion(engine: fixture.engine, configuration: fixture.configuration, nowNanos: { IngestFixture.now })
        func request(_ text: String) async throws { _ = try await fixture.pooledRequest(ingestion, text) }
        try await request("r a=1i 1000\n")
        try await fixture.engine.dropTable("r")
        try await request("r b=2.5 2000\n")
        #expect(fixture.columns("r") == ["b DOUBLE", "timestamp TIMESTAMP"])
        _ = try await fixture.engine.alterTable("r") { (schema) throws(SchemaError) in _ = try schema.addColumn(name: "c", type: .long) }
        try await request("r b=3.5,c=7i 3000\n")
        #expect(try await fixture.rows("r").map { [$0["b"]!, $0["c"]!] } == [["2.5", nil], ["3.5", "7"]])
    }

    /// A pooled ingestor keeps its batches' SYMBOL values from request to request (decision
    /// 0043): rows that repeat, mix, drop and change them all read back as sent, and the
    /// table's dictionary holds only values some row has.
    @Test func reusedIngestorsKeepTheirSymbolValuesCorrectly() async throws {
        let fixture = try IngestFixture()
        let ingestion = LineIngestion(engine: fixture.engine, configuration: fixture.configuration, nowNanos: { IngestFixture.now })
        let requests = [
            [("a", "x"), ("b", "x"), ("a", "x")],
            [("b", "x"), ("a", "y"), ("b", "x")],
            [("c", "y")],
            [("d", "z"), ("e", "z"), ("f", "z"), ("g", "z")],
            [("a", "x"), ("d", "z")],
        ]
        var sent: [[String?]] = []
        var ingestors: [LineIngestor] = []
        for request in requests {
            var text = ""
            for (host, dc) in request {
                sent.append([host, dc, "\(sent.count)"])
                text += "m,host=\(host),dc=\(dc) v=\(sent.count - 1)i \(1_000 * sent.count)\n"
            }
            ingestors.append(try await fixture.pooledRequest(ingestion, text))
        }
        #expect(ingestors.allSatisfy { $0 === ingestors[0] })
        #expect(try await fixture.rows("m").map { [$0["host"]!, $0["dc"]!, $0["v"]!] } == sent)
        let symbols = fixture.engine.snapshot(ofTable: "m")?.symbols ?? [:]
        let columns = fixture.engine.schema(named: "m")?.columns ?? []
        let host = columns.first { $0.name == "host" }.flatMap { symbols[$0.id] }
        #expect(host?.values == ["a", "b", "c", "d", "e", "f", "g"])
    }

    @Test func aStreamWritesABoundedNumberOfTables() async throws {
        let fixture = try IngestFixture()
        fixture.configuration.maxTablesPerStream = 3
        let error = await fixture.ingest((0..<5).map { "t\($0) v=1i\n" }.joined())
        #expect(error?.kind == .tooLarge && error?.line == 4)
        #expect(error?.message == "table: t3; one request or connection may write at most 3 tables")
        #expect(await fixture.ingest("t0 v=1i\nt1 v=1i\nt2 v=1i\n") == nil)
    }

    @Test func onlyModestIngestorsAreKeptBetweenRequests() async throws {
        let fixture = try IngestFixture()
        fixture.configuration.maxPooledBatchBytes = 64 * 1024
        let ingestion = LineIngestion(engine: fixture.engine, configuration: fixture.configuration, nowNanos: { IngestFixture.now })
        func request(_ text: String) async throws -> LineIngestor { try await fixture.pooledRequest(ingestion, text) }
        let small = try await request("p v=1i 1000\n")
        #expect(try await request("p v=2i 2000\n") === small)
        let big = (0..<2_000).map { "p v=\($0)i,s=\"\(String(repeating: "x", count: 64))\" \(3000 + $0)\n" }.joined()
        let large = try await request(big)
        #expect(large === small && large.retainedBytes > 64 * 1024)
        #expect(try await request("p v=3i 9000\n") !== large)
    }

    @Test func autoCreateSwitches() async throws {
        let fixture = try IngestFixture()
        fixture.configuration.autoCreateTables = false
        #expect(await fixture.ingest("t a=1i\n")?.message == "table does not exist, creating new tables is disabled [table=t]")
        fixture.configuration.autoCreateTables = true
        fixture.configuration.autoCreateColumns = false
        #expect(await fixture.ingest("t a=1i\n") == nil)
        #expect(await fixture.ingest("t a=1i,b=2i\n")?.message == "table: t, column: b does not exist, creating new columns is disabled")
    }

    @Test func invalidNames() async throws {
        let fixture = try IngestFixture()
        #expect(await fixture.ingest("bad/name a=1i\n")?.message == "table: bad/name; invalid table name")
        #expect(await fixture.ingest("t a.b=1i\n")?.message == "table: t; invalid column name: a.b")
        #expect(await fixture.ingest("t a=1i\nt c-d=1i\n")?.message == "table: t; invalid column name: c-d")
    }

    @Test func arraysGetTheirDimensionsAndRefuseOthers() async throws {
        let fixture = try IngestFixture()
        var line = Array("m a==".utf8) + [14, 10, 2] + [2, 0, 0, 0, 1, 0, 0, 0]
        for value in [1.5, -2.0] { line += withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }
        line += Array(" 1000\n".utf8)
        #expect(await fixture.ingest(bytes: line) == nil)
        #expect(fixture.columns("m") == ["a DOUBLE[][]", "timestamp TIMESTAMP"])
        #expect(try await fixture.rows("m").map { $0["a"]! } == ["[2, 1][1.5, -2.0]"])
        var oneDimension = Array("m a==".utf8) + [14, 10, 1, 1, 0, 0, 0]
        oneDimension += withUnsafeBytes(of: (1.0).bitPattern.littleEndian) { Array($0) } + Array("\n".utf8)
        #expect(await fixture.ingest(bytes: oneDimension)?.message
            == "table: m, column: a; cast error from protocol type: ARRAY to column type: DOUBLE[][]")
    }
}

@Suite struct LineCastTests {
    static let columns: [(String, ColumnType)] = [
        ("bo", .boolean), ("by", .byte), ("sh", .short), ("ch", .char), ("i", .int), ("l", .long), ("f", .float),
        ("d", .double), ("da", .date), ("ts", .timestamp), ("tn", .timestampNanos), ("sy", .symbol), ("vc", .varchar),
        ("st", .string), ("u", .uuid), ("ip", .ipv4), ("l2", .long256), ("g", .geohash(bits: 20)), ("ar", .doubleArray(dimensions: 1)),
    ]

    /// (field as written, column, stored value or error detail after `table: c, column: X; `)
    static let cases: [(String, String, String?)] = [
        ("bo=t", "bo", "true"), ("by=12i", "by", "12"), ("by=-128i", "by", "-128"),
        ("by=1024i", "by", "!line protocol value: 1024 is out bounds of column type: BYTE"),
        ("sh=-300i", "sh", "-300"), ("sh=40000i", "sh", "!line protocol value: 40000 is out bounds of column type: SHORT"),
        ("i=2147483647i", "i", "2147483647"), ("i=2147483648i", "i", "!line protocol value: 2147483648 is out bounds of column type: INT"),
        ("l=5i", "l", "5"), ("d=5i", "d", "5.0"), ("f=5i", "f", "5.0"), ("ts=5i", "ts", "5"), ("da=5i", "da", "5"),
        ("sy=5i", "sy", "5"), ("sy=-42i", "sy", "-42"),
        ("d=1.5", "d", "1.5"), ("f=1.5", "f", "1.5"),
        ("i=1.5", "i", "!cast error from protocol type: FLOAT to column type: INT"),
        ("l=1.5", "l", "!cast error from protocol type: FLOAT to column type: LONG"),
        ("vc=\"x y\"", "vc", "x y"), ("st=\"x\"", "st", "x"), ("sy=\"x\"", "sy", "x"),
        ("ch=\"A\"", "ch", "A"), ("ch=\"AB\"", "ch", "!cast error from protocol type: STRING to column type: CHAR"),
        ("u=\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"", "u", "a0eebc999c0b4ef8bb6d6bb9bd380a11"),
        ("u=\"nope\"", "u", "!value error: nope cannot be converted to column type: UUID"),
        ("ip=\"10.0.0.1\"", "ip", "10.0.0.1"), ("ip=\"10.0.0\"", "ip", "!value error: 10.0.0 cannot be converted to column type: IPv4"),
        ("l2=\"0x1f\"", "l2", "0x000000000000000000000000000000000000000000000000000000000000001f"),
        ("l2=0x1fi", "l2", "0x000000000000000000000000000000000000000000000000000000000000001f"),
        ("g=\"u33d\"", "g", "\(26 << 15 | 3 << 10 | 3 << 5 | 12)"), ("g=\"u3\"", "g", nil),
        ("l=\"5\"", "l", "!cast error from protocol type: STRING to column type: LONG"),
        ("by=t", "by", "1"), ("i=f", "i", "0"), ("d=t", "d", "1.0"), ("sy=t", "sy", "true"),
        ("vc=t", "vc", "!cast error from protocol type: BOOLEAN to column type: VARCHAR"),
        ("ts=1700000000000000t", "ts", "1700000000000000"), ("ts=1700000000000000123n", "ts", "1700000000000000"),
        ("tn=1700000000000000t", "tn", "1700000000000000000"), ("da=1700000000000000t", "da", "1700000000000"),
        ("ts=17m", "ts", "17000"), ("l=17t", "l", "!cast error from protocol type: TIMESTAMP to column type: LONG"),
        ("d=\"1.5\"", "d", "!cast error from protocol type: STRING to column type: DOUBLE"),
        ("ar=1.5", "ar", "!cast error from protocol type: FLOAT to column type: DOUBLE[]"),
        ("d=", "d", nil),
    ]

    @Test func everyValueKindIntoEveryColumnType() async throws {
        let fixture = try IngestFixture()
        var columns = Self.columns.enumerated().map { ColumnSchema(id: UInt32($0.offset), name: $0.element.0, type: $0.element.1) }
        columns.append(ColumnSchema(id: UInt32(columns.count), name: "ts_d", type: .timestamp))
        _ = try await fixture.engine.createTable(TableSchema(
            tableID: 0, name: "c", columns: columns, designatedTimestamp: UInt32(columns.count - 1), partitionBy: .day))
        var expectedRows: [String?] = []
        for (index, (field, column, expected)) in Self.cases.enumerated() {
            let error = await fixture.ingest("c \(field) \(index + 1)000\n")
            if let expected, expected.hasPrefix("!") {
                #expect(error?.message == "table: c, column: \(column); " + expected.dropFirst(), "\(field)")
                #expect(error?.kind == .invalidLine, "\(field)")
            } else {
                #expect(error == nil, "\(field): \(String(describing: error))")
                expectedRows.append(expected)
            }
        }
        let rows = try await fixture.rows("c")
        let stored = Self.cases.filter { !($0.2?.hasPrefix("!") ?? false) }
        #expect(rows.count == stored.count)
        for (row, (field, column, expected)) in zip(rows, stored) {
            #expect(row[column] == expected, "\(field)")
        }
    }
}

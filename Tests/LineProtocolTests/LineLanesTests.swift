// An ILP body parsed in two halves at once (`LineLanes`) must give exactly what one pass gives:
// the same tables, columns in the same order, the same rows in the same order, and the same
// first error with the same line number. Bodies here are random (escapes, quoted strings,
// escaped newlines, CRLF, empty lines, new columns and tables anywhere, a bad line anywhere)
// and the rounds tiny, so every body is cut at many places and in every chunking.
import LineProtocol
import NIOCore
import Storage
import Synchronization
import Testing
import TestSupport

extension IngestFixture {
    /// Ingests `bytes` as the HTTP endpoint does, through `LineLanes`; `cuts` are where the
    /// received chunks end. Rounds are small so that short bodies are split too.
    func ingestInLanes(
        _ bytes: [UInt8], cuts: [Int] = [], roundBytes: Int, minimumHalfBytes: Int,
        queriesRunning: @escaping @Sendable () -> Bool = { false }
    ) async -> LineIngestError? {
        let ingestion = LineIngestion(engine: engine, configuration: configuration, nowNanos: { Self.now }, queriesRunning: queriesRunning)
        let ingestor = ingestion.makeIngestor()
        var lanes = LineLanes(
            ingestion: ingestion, ingestor: ingestor, defaultUnit: .nanos, roundBytes: roundBytes, minimumHalfBytes: minimumHalfBytes)
        var start = 0
        do throws(LineIngestError) {
            for end in cuts + [bytes.count] {
                try await lanes.feed(ByteBuffer(bytes: bytes[start..<end]))
                start = end
            }
            try await lanes.finish()
            try await ingestor.commitAll()
            return nil
        } catch {
            ingestor.discardAll()
            return error
        }
    }

    /// Every table: its columns and its rows, in order.
    func contents() async throws -> [String: [String]] {
        var all: [String: [String]] = [:]
        for schema in engine.tableSchemas {
            let rows = try await rows(schema.name).map { row in
                schema.columns.map { "\($0.name)=\((row[$0.name] ?? nil) ?? "NULL")" }.joined(separator: " ")
            }
            all[schema.name] = columns(schema.name) + rows
        }
        return all
    }
}

/// A deterministic generator (the tests must be repeatable).
struct SplitMix {
    var state: UInt64
    mutating func next(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(bound))
    }
    mutating func pick<T>(_ items: [T]) -> T { items[next(items.count)] }
}

enum RandomILP {
    static let tagValues = ["a", "b\\ c", "x\\,y", "back\\\\", "new\\\nline", "eq\\=z", "ünï"]
    static let strings = ["plain", "with, comma and space", "quote \\\" inside", "back\\\\slash", "escaped\\\nnewline", "x=1i y", ""]

    /// `lines` random lines over three tables; `bad` replaces one line with an invalid one.
    static func body(_ random: inout SplitMix, lines: Int, bad: Int? = nil) -> [UInt8] {
        var text = ""
        for index in 0..<lines {
            if index == bad {
                text += random.pick(["t0 f0=notanumber 1\n", "t1,k=v f1=\"unterminated\n", "t2 f0=1.5,f0 2\n", "t0 f0=1i 1x\n"])
                continue
            }
            if random.next(12) == 0 { text += random.pick(["\n", "\r\n"]) }
            let table = "t\(random.next(3))"
            var line = table
            for tag in 0..<random.next(3) { line += ",k\(tag)=\(random.pick(tagValues))" }
            var fields: [String] = []
            // Field names come from a growing set, so new columns appear anywhere in a body.
            for field in 0..<(1 + random.next(3)) {
                // Each name keeps one kind of value; the suffixes make new columns appear anywhere.
                let name = "f\(field)\(random.next(2) == 0 ? "" : "b")\(random.next(10) == 0 ? "_\(index % 5)" : "")"
                let value: String
                switch field {
                case 0: value = "\(random.next(1000))i"
                case 1: value = "\"\(random.pick(strings))\""
                default: value = random.pick(["t", "false"])
                }
                fields.append("\(name)=\(value)")
            }
            line += " " + fields.joined(separator: ",") + " \(1_700_000_000_000_000_000 + index * 1000)"
            text += line + random.pick(["\n", "\n", "\r\n"])
        }
        return Array(text.utf8)
    }

    /// Lines of binary doubles and double arrays whose bytes include newlines, backslashes and `=`.
    static func binaryBody(_ random: inout SplitMix, lines: Int) -> [UInt8] {
        let patterns: [UInt64] = [0x3FF0_0000_0A5C_0A0A, 0x000A_0A0A_0A0A_3FF0, 0x4000_0000_0000_0000, 0x3D3D_0A3D_3D0A_3D3D]
        var body: [UInt8] = []
        for index in 0..<lines {
            body += Array("t,k=v\(random.next(3)) d==".utf8) + [16]
            withUnsafeBytes(of: random.pick(patterns).littleEndian) { body += $0 }
            if random.next(2) == 0 {
                let count = 1 + random.next(4)
                body += Array(",a==".utf8) + [14, 10, 1]
                withUnsafeBytes(of: UInt32(count).littleEndian) { body += $0 }
                for _ in 0..<count { withUnsafeBytes(of: random.pick(patterns).littleEndian) { body += $0 } }
            }
            body += Array(" \(1_700_000_000_000_000_000 + index)\n".utf8)
        }
        return body
    }

    static func cuts(_ random: inout SplitMix, count: Int) -> [Int] {
        guard count > 1 else { return [] }
        return Array(Set((0..<random.next(6)).map { _ in 1 + random.next(count - 1) })).sorted()
    }
}

@Suite struct LineLanesTests {
    /// Same body, one pass against two lanes: tables, columns, rows and errors all agree.
    private func expectSameAsOnePass(
        _ body: [UInt8], cuts: [Int], roundBytes: Int, minimumHalfBytes: Int, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let onePass = try IngestFixture()
        let lanes = try IngestFixture()
        let expected = await onePass.ingest(bytes: body, cuts: cuts)
        let actual = await lanes.ingestInLanes(body, cuts: cuts, roundBytes: roundBytes, minimumHalfBytes: minimumHalfBytes)
        #expect(actual?.line == expected?.line, sourceLocation: sourceLocation)
        #expect(actual?.message == expected?.message, sourceLocation: sourceLocation)
        #expect(actual?.kind == expected?.kind, sourceLocation: sourceLocation)
        #expect(try await lanes.contents() == onePass.contents(), sourceLocation: sourceLocation)
    }

    @Test(arguments: 0..<24)
    func randomBodiesGiveWhatOnePassGives(seed: Int) async throws {
        var random = SplitMix(state: UInt64(seed) &* 7919)
        let lines = 20 + random.next(60)
        let body = RandomILP.body(&random, lines: lines, bad: seed % 3 == 0 ? random.next(lines) : nil)
        let cuts = RandomILP.cuts(&random, count: body.count)
        try await expectSameAsOnePass(body, cuts: cuts, roundBytes: 64 + random.next(body.count), minimumHalfBytes: 1 + random.next(64))
    }

    /// The split lands next to escaped newlines: `\` + LF continues a line, `\\` + LF ends one.
    @Test func escapedNewlinesAreNotLineEnds() async throws {
        let lines = [
            "t,k=a\\\nb f=1i 1", "t,k=c\\\\ f=2i 2", "t s=\"x\\\ny\" 3", "t,k=\\\\\\\nd f=4i 4", "t f=5i 5", "t f=6i 6",
        ]
        let body = Array((lines.joined(separator: "\n") + "\n").utf8)
        for middle in 1..<body.count {
            try await expectSameAsOnePass(body, cuts: [middle], roundBytes: 8, minimumHalfBytes: 1)
        }
    }

    /// A column first seen in the second half is added after those the first half added, and
    /// the first half's rows get NULL in it, as in one pass.
    @Test func columnsNewToTheSecondHalfComeAfterTheFirstHalfs() async throws {
        let first = (0..<40).map { "t,s=a x=\($0)i \($0)\n" }.joined() + "t,s=b x=1i,y=2.5 100\n"
        let second = (0..<40).map { "t,s=c x=\($0)i,z=\"q\" \($0 + 200)\n" }.joined() + "u v=1i 1\n"
        let body = Array((first + second).utf8)
        try await expectSameAsOnePass(body, cuts: [], roundBytes: 1 << 20, minimumHalfBytes: 16)
        let lanes = try IngestFixture()
        #expect(await lanes.ingestInLanes(body, roundBytes: 1 << 20, minimumHalfBytes: 16) == nil)
        #expect(lanes.columns("t") == ["s SYMBOL", "x LONG", "timestamp TIMESTAMP", "y DOUBLE", "z VARCHAR"])
        #expect(try await lanes.rows("t").count == 81)
    }

    /// While SQL statements run, a round that would be split is parsed in one pass (decision
    /// 0028): the check is made for each round, and the rows are the same either way.
    @Test func roundsStayOnOneCoreWhileQueriesRun() async throws {
        let body = Array((0..<200).map { "t,s=k\($0 % 7) x=\($0)i \($0)\n" }.joined().utf8)
        let asked = Mutex(0)
        let lanes = try IngestFixture()
        #expect(await lanes.ingestInLanes(body, roundBytes: 1 << 20, minimumHalfBytes: 16, queriesRunning: {
            asked.withLock { $0 += 1 }
            return true
        }) == nil)
        #expect(asked.withLock { $0 } == 1)
        let alone = try IngestFixture()
        #expect(await alone.ingestInLanes(body, roundBytes: 1 << 20, minimumHalfBytes: 16) == nil)
        #expect(try await lanes.contents() == alone.contents())
        #expect(try await lanes.rows("t").count == 200)
    }

    /// The first bad line is reported whichever half holds it, with its number in the body.
    @Test func theFirstBadLineIsReportedWithItsNumberInTheBody() async throws {
        let good = (0..<30).map { "t x=\($0)i \($0)\n" }
        for bad in [3, 20, 29] {
            var lines = good
            lines[bad] = "t x=oops \(bad)\n"
            let lanes = try IngestFixture()
            let error = await lanes.ingestInLanes(Array(lines.joined().utf8), roundBytes: 1 << 20, minimumHalfBytes: 16)
            #expect(error?.line == bad + 1)
            #expect(lanes.engine.schema(named: "t") != nil)
            #expect(try await lanes.rows("t").isEmpty)
        }
    }

    /// ILP v2 binary doubles and arrays hold raw bytes — newlines, backslashes and `=` among
    /// them — so a cut can land inside a value; the result is still what one pass gives.
    @Test(arguments: 0..<12)
    func bodiesWithBinaryValuesGiveWhatOnePassGives(seed: Int) async throws {
        var random = SplitMix(state: UInt64(seed) &* 104_729)
        let body = RandomILP.binaryBody(&random, lines: 30 + random.next(40))
        let cuts = RandomILP.cuts(&random, count: body.count)
        try await expectSameAsOnePass(body, cuts: cuts, roundBytes: 64 + random.next(body.count), minimumHalfBytes: 1 + random.next(64))
    }

    /// A stream that goes quiet (TCP) parses what it holds: complete lines, not a partial one.
    @Test func flushParsesCompleteLinesAndKeepsAPartialOne() async throws {
        let fixture = try IngestFixture()
        let ingestion = LineIngestion(engine: fixture.engine, configuration: fixture.configuration, nowNanos: { IngestFixture.now })
        let ingestor = ingestion.makeIngestor()
        var lanes = LineLanes(ingestion: ingestion, ingestor: ingestor, defaultUnit: .nanos, roundBytes: 1 << 20, minimumHalfBytes: 8)
        try await lanes.feed(ByteBuffer(string: (0..<20).map { "t x=\($0)i \($0)\n" }.joined() + "t x=9"))
        #expect(lanes.hasPartialLine)
        try await lanes.flush()
        #expect(lanes.linesParsed == 20)
        #expect(ingestor.pendingRows == 20)
        #expect(lanes.hasPartialLine)
        try await lanes.feed(ByteBuffer(string: "9i 99\n"))
        try await lanes.flush()
        #expect(!lanes.hasPartialLine)
        #expect(ingestor.pendingRows == 21)
    }

    /// Rows before a bad line in the second half are kept (TCP commits them); those after a bad
    /// line in the first half are not.
    @Test func rowsBeforeTheBadLineAreKept() async throws {
        for (bad, kept) in [(5, 5), (25, 25)] {
            let fixture = try IngestFixture()
            let ingestion = LineIngestion(engine: fixture.engine, configuration: fixture.configuration, nowNanos: { IngestFixture.now })
            let ingestor = ingestion.makeIngestor()
            var lanes = LineLanes(ingestion: ingestion, ingestor: ingestor, defaultUnit: .nanos, roundBytes: 64, minimumHalfBytes: 8)
            var lines = (0..<30).map { "t x=\($0)i \($0)\n" }
            lines[bad] = "t x=bad \(bad)\n"
            #expect(await fixture.ingest("t x=0i 0\n") == nil)  // the table exists: both halves start at once
            var failure: LineIngestError?
            do {
                try await lanes.feed(ByteBuffer(string: lines.joined()))
                try await lanes.flush()
            } catch {
                failure = error
            }
            #expect(failure?.line == bad + 1)
            #expect(ingestor.pendingRows == kept)
            ingestor.discardAll()
        }
    }
}

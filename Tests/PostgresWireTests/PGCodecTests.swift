// Proves the frontend decoder (whole and split at every byte, limits, malformed bodies) and
// the backend encoder's bytes.
import NIOCore
import PostgresWire
import Testing

/// Frontend messages as a client writes them (only tests need this direction).
enum Frontend {
    static func frame(_ type: Character, _ body: [UInt8]) -> [UInt8] {
        [type.asciiValue!] + int32(body.count + 4) + body
    }

    static func int32(_ value: Int) -> [UInt8] { withUnsafeBytes(of: Int32(value).bigEndian) { Array($0) } }
    static func int16(_ value: Int) -> [UInt8] { withUnsafeBytes(of: Int16(value).bigEndian) { Array($0) } }
    static func cstring(_ text: String) -> [UInt8] { Array(text.utf8) + [0] }

    static func startup(_ parameters: [(String, String)], minor: Int = 0) -> [UInt8] {
        var body = int32(3 << 16 | minor)
        for (name, value) in parameters { body += cstring(name) + cstring(value) }
        body.append(0)
        return int32(body.count + 4) + body
    }

    static func bind(portal: String, statement: String, formats: [Int], parameters: [[UInt8]?], results: [Int]) -> [UInt8] {
        var body = cstring(portal) + cstring(statement) + int16(formats.count) + formats.flatMap { int16($0) }
        body += int16(parameters.count)
        for parameter in parameters {
            if let parameter { body += int32(parameter.count) + parameter } else { body += int32(-1) }
        }
        body += int16(results.count) + results.flatMap { int16($0) }
        return frame("B", body)
    }
}

@Suite struct PGCodecTests {
    static let stream: [UInt8] =
        Frontend.frame("Q", Frontend.cstring("select 1; select 'é'"))
        + Frontend.frame("P", Frontend.cstring("s1") + Frontend.cstring("select $1") + Frontend.int16(1) + Frontend.int32(23))
        + Frontend.bind(portal: "p1", statement: "s1", formats: [1], parameters: [[0, 0, 0, 7], nil], results: [0, 1])
        + Frontend.frame("D", [UInt8(ascii: "S")] + Frontend.cstring("s1"))
        + Frontend.frame("E", Frontend.cstring("p1") + Frontend.int32(100))
        + Frontend.frame("C", [UInt8(ascii: "P")] + Frontend.cstring("p1"))
        + Frontend.frame("H", []) + Frontend.frame("S", []) + Frontend.frame("d", [1, 2]) + Frontend.frame("X", [])

    static let expected: [PGFrontendMessage] = [
        .query("select 1; select 'é'"),
        .parse(name: "s1", query: "select $1", parameterTypes: [23]),
        .bind(PGBind(portal: "p1", statement: "s1", parameterFormats: [.binary], parameters: [[0, 0, 0, 7], nil], resultFormats: [.text, .binary])),
        .describe(.statement, name: "s1"),
        .execute(portal: "p1", maxRows: 100),
        .close(.portal, name: "p1"),
        .flush, .sync, .unsupported(type: UInt8(ascii: "d")), .terminate,
    ]

    static func decodeAll(_ chunks: [[UInt8]]) throws -> [PGFrontendMessage] {
        var decoder = PGMessageDecoder(maxMessageBytes: 1 << 20)
        var messages: [PGFrontendMessage] = []
        for chunk in chunks {
            decoder.feed(ByteBuffer(bytes: chunk))
            while let result = try decoder.next() { messages.append(try result.get()) }
        }
        return messages
    }

    @Test func decodesWholeAndSplitAtEveryByte() throws {
        #expect(try Self.decodeAll([Self.stream]) == Self.expected)
        for split in 1..<Self.stream.count {
            let messages = try Self.decodeAll([Array(Self.stream[..<split]), Array(Self.stream[split...])])
            #expect(messages == Self.expected, "split at \(split)")
        }
        #expect(try Self.decodeAll(Self.stream.map { [$0] }) == Self.expected)
    }

    @Test func startupRequestsSplitAtEveryByte() throws {
        let bytes = Frontend.startup([("user", "admin"), ("database", "qdb"), ("_pq_.x", "1")], minor: 2)
            + Frontend.int32(8) + Frontend.int32(80_877_103) + Frontend.int32(16) + Frontend.int32(80_877_102) + Frontend.int32(42)
            + Frontend.int32(7)
        let expected: [PGStartupRequest] = [
            .startup(minorVersion: 2, parameters: ["user": "admin", "database": "qdb"], options: ["_pq_.x"]), .sslRequest,
            .cancel(processID: 42, secret: 7),
        ]
        for split in 1..<bytes.count {
            var decoder = PGMessageDecoder(maxMessageBytes: 1024)
            var requests: [PGStartupRequest] = []
            for chunk in [Array(bytes[..<split]), Array(bytes[split...])] {
                decoder.feed(ByteBuffer(bytes: chunk))
                while let request = try decoder.nextStartup() { requests.append(request) }
            }
            #expect(requests == expected, "split at \(split)")
        }
    }

    @Test(arguments: [
        (Frontend.int32(0x7FFF_FFFF) + [0, 3, 0, 0], "huge"), (Frontend.int32(4) + [0, 3, 0, 0], "tiny"),
        (Array("GET / HTTP/1.1\r\n".utf8), "http"),
    ])
    func badStartupLengthsAreFramingErrors(_ bytes: [UInt8], _ label: String) {
        var decoder = PGMessageDecoder(maxMessageBytes: 1024)
        decoder.feed(ByteBuffer(bytes: bytes))
        #expect(throws: PGFramingError.self, "\(label)") { try decoder.nextStartup() }
    }

    @Test func unsupportedProtocolVersionIsAnsweredNotDropped() throws {
        var decoder = PGMessageDecoder(maxMessageBytes: 1024)
        decoder.feed(ByteBuffer(bytes: Frontend.int32(8) + Frontend.int32(0x0002_0000)))
        #expect(try decoder.nextStartup() == .unsupportedVersion(major: 2, minor: 0))
    }

    @Test func messageLengthsAreCheckedBeforeTheBodyArrives() {
        for header in [[UInt8(ascii: "Q")] + Frontend.int32(2048), [UInt8(ascii: "Q")] + Frontend.int32(3)] {
            var decoder = PGMessageDecoder(maxMessageBytes: 1024)
            decoder.feed(ByteBuffer(bytes: header))
            #expect(throws: PGFramingError.self) { try decoder.next() }
        }
    }

    @Test(arguments: [
        (Frontend.frame("Q", Array("select 1".utf8)), "08P01", false),
        (Frontend.frame("Q", [0x73, 0xFF, 0]), "22021", false),
        (Frontend.frame("B", Frontend.cstring("") + Frontend.cstring("") + Frontend.int16(0) + Frontend.int16(0)), "08P01", false),
        (Frontend.frame("B", Frontend.cstring("") + Frontend.cstring("") + Frontend.int16(0) + Frontend.int16(1) + Frontend.int32(-5)), "08P01", false),
        (Frontend.frame("B", Frontend.cstring("") + Frontend.cstring("") + Frontend.int16(0) + Frontend.int16(1) + Frontend.int32(1000) + [1, 2]), "08P01", false),
        (Frontend.frame("D", [UInt8(ascii: "X")] + Frontend.cstring("")), "08P01", false),
        (Frontend.frame("z", []), "08P01", true),
        (Frontend.startup([("user", "a")]), "08P01", true),
    ])
    func malformedBodiesFailTheMessageNotTheStream(_ bytes: [UInt8], _ state: String, _ fatal: Bool) throws {
        var decoder = PGMessageDecoder(maxMessageBytes: 1 << 20)
        decoder.feed(ByteBuffer(bytes: Array(bytes) + Frontend.frame("S", [])))
        guard case .failure(let error)? = try decoder.next() else {
            Issue.record("malformed message decoded")
            return
        }
        #expect(error.sqlState == state && error.fatal == fatal)
        if !fatal { #expect(try decoder.next().map { try $0.get() } == .sync) }
    }

    @Test func backendMessagesHaveTheirExactBytes() {
        func bytes(_ message: PGBackendMessage) -> [UInt8] {
            var buffer = ByteBuffer()
            message.write(into: &buffer)
            return Array(buffer.readableBytesView)
        }
        #expect(bytes(.authenticationOk) == [UInt8(ascii: "R"), 0, 0, 0, 8, 0, 0, 0, 0])
        #expect(bytes(.readyForQuery(.inTransaction)) == [UInt8(ascii: "Z"), 0, 0, 0, 5, UInt8(ascii: "T")])
        #expect(bytes(.commandComplete("SELECT 1")) == [UInt8(ascii: "C"), 0, 0, 0, 13] + Array("SELECT 1".utf8) + [0])
        #expect(bytes(.parameterStatus(name: "a", value: "b")) == [UInt8(ascii: "S"), 0, 0, 0, 8, 97, 0, 98, 0])
        #expect(bytes(.parameterDescription([23, 1043])) == [UInt8(ascii: "t"), 0, 0, 0, 14, 0, 2, 0, 0, 0, 23, 0, 0, 4, 19])
        #expect(bytes(.error(PGErrorFields(sqlState: "42601", message: "m", position: 3)))
            == [UInt8(ascii: "E"), 0, 0, 0, 32] + Array("SERROR\0VERROR\0C42601\0Mm\0P3\0".utf8) + [0])
        let description = bytes(.rowDescription([PGColumnDescription(name: "x", type: .int8, format: .binary)]))
        #expect(description == [UInt8(ascii: "T"), 0, 0, 0, 26, 0, 1, 120, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 20, 0, 8, 255, 255, 255, 255, 0, 1])
        #expect(bytes(.negotiateProtocolVersion(newestMinor: 0, unrecognized: ["_pq_.x"]))
            == [UInt8(ascii: "v"), 0, 0, 0, 19, 0, 3, 0, 0, 0, 0, 0, 1] + Array("_pq_.x".utf8) + [0])
    }
}

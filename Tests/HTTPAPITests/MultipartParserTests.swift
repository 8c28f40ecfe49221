// The multipart/form-data parser: parts, names and file names, bodies that contain
// boundary-like bytes, and identical events whatever the byte boundaries.
@testable import HTTPAPI
import Testing

private let body = Array((
    "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"schema\"\r\n\r\n[{\"name\":\"a\"}]\r\n"
        + "--XyZ\r\nContent-Disposition: form-data; name=\"data\"; filename=\"t.csv\"\r\nContent-Type: text/csv\r\n\r\n"
        + "a\r\n--Xy\r\n1\r\n--XyZ--\r\nepilogue").utf8)

/// Events with adjacent data pieces merged, so any chunking compares equal.
private func parse(cuts: [Int]) throws -> [MultipartParser.Event] {
    var parser = MultipartParser(boundary: "XyZ")
    var events: [MultipartParser.Event] = []
    var start = 0
    for end in cuts + [body.count] {
        for event in try parser.feed(body[start..<end]) {
            if case .data(let more) = event, case .data(let previous)? = events.last {
                events[events.count - 1] = .data(previous + more)
            } else {
                events.append(event)
            }
        }
        start = end
    }
    return events
}

private let expected: [MultipartParser.Event] = [
    .part(name: "schema", filename: nil), .data(Array("[{\"name\":\"a\"}]".utf8)), .partEnd,
    .part(name: "data", filename: "t.csv"), .data(Array("a\r\n--Xy\r\n1".utf8)), .partEnd, .end,
]

@Test func partsAndBodies() throws {
    #expect(try parse(cuts: []) == expected)
}

@Test func everySplitGivesTheSameEvents() throws {
    for cut in 0...body.count {
        #expect(try parse(cuts: [cut]) == expected, "cut at \(cut)")
    }
}

@Test func boundaryFromContentType() {
    #expect(MultipartParser.boundary(contentType: "multipart/form-data; boundary=abc") == "abc")
    #expect(MultipartParser.boundary(contentType: "multipart/form-data; charset=utf-8; boundary=\"a b\"") == "a b")
    #expect(MultipartParser.boundary(contentType: "text/csv") == nil)
    #expect(MultipartParser.boundary(contentType: "multipart/form-data") == nil)
}

@Test func malformedParts() {
    var noDisposition = MultipartParser(boundary: "b")
    #expect(throws: MultipartParser.Failure.self) { _ = try noDisposition.feed(Array("--b\r\nX: y\r\n\r\ndata".utf8)) }
    var hugeHeaders = MultipartParser(boundary: "b", maxHeaderBytes: 32)
    #expect(throws: MultipartParser.Failure.self) { _ = try hugeHeaders.feed(Array(("--b\r\n" + String(repeating: "h", count: 100)).utf8)) }
}

@Test func jsonValues() throws {
    let value = try JSONValue.parse(Array(#"[{"name":"a\"b","n":-1.5e2,"ok":true,"z":null,"u":"\u00e9"}]"#.utf8))
    #expect(value == .array([.object([
        ("name", .string("a\"b")), ("n", .number(-150)), ("ok", .boolean(true)), ("z", .null), ("u", .string("é")),
    ])]))
    #expect(throws: JSONValue.Failure.self) { try JSONValue.parse(Array("[1,".utf8)) }
    #expect(throws: JSONValue.Failure.self) { try JSONValue.parse(Array(String(repeating: "[", count: 100).utf8)) }
}

@Test func rowLimits() {
    #expect(RowLimit("3", inclusiveStart: true).rows(of: 10, cap: .max) == 0..<3)
    #expect(RowLimit("4,6", inclusiveStart: true).rows(of: 10, cap: .max) == 3..<6)
    #expect(RowLimit("4,6", inclusiveStart: false).rows(of: 10, cap: .max) == 4..<6)
    #expect(RowLimit("-5", inclusiveStart: true).rows(of: 10, cap: .max) == 0..<0)
    #expect(RowLimit("8,20", inclusiveStart: true).rows(of: 10, cap: .max) == 7..<10)
    #expect(RowLimit(nil, inclusiveStart: true).rows(of: 10, cap: 4) == 0..<4)
    #expect(RowLimit("x", inclusiveStart: true).rows(of: 10, cap: .max) == 0..<10)
}

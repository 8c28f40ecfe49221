// The CSV reader: quoting rules, NULL versus empty text, CRLF, and the same records whatever
// byte boundaries the input arrives in.
@testable import SQL
import Storage
import Testing

private func read(_ text: String, cuts: [Int] = []) throws -> [[String?]] {
    var reader = CSVRecordReader()
    let bytes = Array(text.utf8)
    var records: [[String?]] = []
    var start = 0
    for end in cuts + [bytes.count] {
        records += try reader.feed(bytes[start..<end])
        start = end
    }
    return records + (try reader.finish())
}

private let sample = "a,b,c\r\n1,\"x,y\",\"say \"\"hi\"\"\"\n2,,\"\"\n3,\"multi\nline\",é日\n4,last,no newline"

private let expected: [[String?]] = [
    ["a", "b", "c"], ["1", "x,y", "say \"hi\""], ["2", nil, ""], ["3", "multi\nline", "é日"], ["4", "last", "no newline"],
]

@Test func recordsAndQuoting() throws {
    #expect(try read(sample) == expected)
}

@Test func everySplitGivesTheSameRecords() throws {
    for cut in 0...sample.utf8.count {
        #expect(try read(sample, cuts: [cut]) == expected, "cut at \(cut)")
    }
}

@Test func blankLinesAreSkipped() throws {
    #expect(try read("a\n\n\nb\n") == [["a"], ["b"]])
}

@Test func anUnclosedQuoteHitsTheRecordLimit() {
    var reader = CSVRecordReader(maxRecordBytes: 64)
    #expect(throws: CSVRecordReader.Failure.recordTooLong(line: 1, limit: 64)) {
        _ = try reader.feed(Array(("\"open" + String(repeating: "x", count: 100)).utf8))
    }
}

/// The records before a too-long one come out, then the error — the same records wherever
/// the input is cut (an import commits what it took before failing, so this decides what a
/// failed import leaves behind).
@Test func theRecordsBeforeATooLongOneAreTheSameWhereverTheInputIsCut() {
    let text = "a,b\n1,2\n3,4\n\"" + String(repeating: "x", count: 100) + "\n5,6\n"
    let bytes = Array(text.utf8)
    for cut in 0...bytes.count {
        var reader = CSVRecordReader(maxRecordBytes: 64)
        var records: [[String?]] = []
        var failure: CSVRecordReader.Failure?
        do throws(CSVRecordReader.Failure) {
            records += try reader.feed(bytes[..<cut])
            records += try reader.feed(bytes[cut...])
            records += try reader.finish()
        } catch {
            failure = error
        }
        #expect(records == [["a", "b"], ["1", "2"], ["3", "4"]], "cut at \(cut)")
        #expect(failure == .recordTooLong(line: 4, limit: 64), "cut at \(cut)")
    }
}

@Test func otherDelimiters() throws {
    var reader = CSVRecordReader(delimiter: UInt8(ascii: "\t"))
    #expect(try reader.feed(Array("a\tb,c\n".utf8)) == [["a", "b,c"]])
    #expect(CSVImport.detectDelimiter(Array("a;b;c\n1;2;3".utf8)) == UInt8(ascii: ";"))
    #expect(CSVImport.detectDelimiter(Array("\"a,b\"|c|d\n".utf8)) == UInt8(ascii: "|"))
}

@Test func typeInference() {
    #expect(CSVImport.inferType(["1", "2", nil, ""]) == .int)
    #expect(CSVImport.inferType(["1", "3000000000"]) == .long)
    #expect(CSVImport.inferType(["1", "2.5"]) == .double)
    #expect(CSVImport.inferType(["true", "FALSE"]) == .boolean)
    #expect(CSVImport.inferType(["2024-01-01T00:00:00Z", "2024-01-02"]) == .timestamp)
    #expect(CSVImport.inferType(["x", "1"]) == .varchar)
    #expect(CSVImport.inferType([nil]) == .varchar)
}

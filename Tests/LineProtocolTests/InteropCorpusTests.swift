// Every line the official clients' interop corpus says they send (text v1, binary v2) parses
// into exactly the table, symbols and typed columns the corpus lists.
import Foundation
import LineProtocol
import NIOCore
import Testing

@Suite struct InteropCorpusTests {
    struct Case {
        var file: String
        var name: String
        var table: String
        var symbols: [(String, String)]
        var columns: [(type: String, name: String, value: Any)]
        var inputs: [[UInt8]]
        var needsDecimals: Bool
    }

    static func cases() throws -> [Case] {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Interop")
        var cases: [Case] = []
        for file in ["c-questdb-client.ilp-client-interop-test.json", "questdb-client-test.ilp-client-interop-test.json"] {
            let data = try Data(contentsOf: directory.appendingPathComponent(file))
            let list = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
            for entry in list {
                let result = try #require(entry["result"] as? [String: Any])
                guard result["status"] as? String == "SUCCESS" else { continue }
                var inputs: [[UInt8]] = []
                if let line = result["line"] as? String { inputs.append(Array(line.utf8)) }
                for line in result["anyLines"] as? [String] ?? [] { inputs.append(Array(line.utf8)) }
                if let base64 = result["binaryBase64"] as? String { inputs.append(Array(try #require(Data(base64Encoded: base64)))) }
                cases.append(Case(
                    file: file, name: entry["testName"] as? String ?? "?", table: entry["table"] as? String ?? "",
                    symbols: (entry["symbols"] as? [[String: Any]] ?? []).map { ($0["name"] as! String, $0["value"] as! String) },
                    columns: (entry["columns"] as? [[String: Any]] ?? []).map { ($0["type"] as! String, $0["name"] as! String, $0["value"]!) },
                    inputs: inputs, needsDecimals: (entry["minimumProtocolVersion"] as? Int ?? 1) >= 3))
            }
        }
        return cases
    }

    @Test func everySuccessCaseParsesToItsValues() throws {
        let cases = try Self.cases()
        #expect(cases.count >= 15)
        var checkedInputs = 0
        for testCase in cases {
            for input in testCase.inputs {
                var stream = LineStream(maxLineBytes: 1 << 16)
                stream.feed(ByteBuffer(bytes: input))
                stream.finish()
                var seen = 0
                do throws(LineIngestError) {
                    _ = try stream.drain { parser, buffer, _ in
                        seen += 1
                        check(testCase, parser, buffer)
                        return nil
                    }
                    #expect(seen == 1, "\(testCase.name): \(seen) lines")
                } catch {
                    Issue.record("\(testCase.name): \(error)")
                }
                checkedInputs += 1
            }
        }
        #expect(checkedInputs >= 20)
    }

    func check(_ testCase: Case, _ parser: LineParser, _ buffer: UnsafeRawBufferPointer) {
        let label = "\(testCase.file): \(testCase.name)"
        #expect(LineText.string(buffer, parser.table) == testCase.table, "\(label)")
        #expect(parser.tagCount == testCase.symbols.count, "\(label)")
        for (index, symbol) in testCase.symbols.enumerated() where index < parser.tagCount {
            let entity = parser.entity(index)
            #expect(LineText.string(buffer, entity.name) == symbol.0, "\(label)")
            #expect(LineText.string(buffer, entity.range) == symbol.1, "\(label)")
        }
        #expect(parser.entityCount - parser.tagCount == testCase.columns.count, "\(label)")
        for (offset, column) in testCase.columns.enumerated() where parser.tagCount + offset < parser.entityCount {
            let entity = parser.entity(parser.tagCount + offset)
            #expect(LineText.string(buffer, entity.name) == column.name, "\(label)")
            switch column.type {
            case "STRING":
                #expect(entity.kind == .string && LineText.string(buffer, entity.range) == column.value as? String, "\(label)")
            case "LONG":
                #expect(entity.kind == .integer && entity.integer == (column.value as? NSNumber)?.int64Value, "\(label)")
            case "DOUBLE":
                #expect(entity.kind == .double && entity.double == (column.value as? NSNumber)?.doubleValue, "\(label)")
            case "BOOLEAN":
                #expect(entity.kind == .boolean && (entity.integer == 1) == (column.value as? Bool), "\(label)")
            case "DECIMAL":
                // The same number (the corpus writes `-0.0` and `0.0` for zeros of either form).
                let expected = Decimal(string: column.value as? String ?? "")
                let parsed = Decimal(sign: entity.integer < 0 ? .minus : .plus, exponent: -entity.dimensions,
                                     significand: Decimal(entity.integer.magnitude))
                #expect(entity.kind == .decimal && expected == parsed, "\(label): \(parsed)")
            default:
                Issue.record("\(label): column type \(column.type) not checked")
            }
        }
    }
}

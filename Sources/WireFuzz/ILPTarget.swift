import LineProtocol
import NIOCore

/// ILP: every line's table, entities and timestamp, or the error, as an HTTP body (the end
/// ends the last line) and as a TCP stream — and the same through a series memo, both when it
/// meets the input's keys for the first time and when it already knows them (decision 0033:
/// a memo never changes an answer).
enum ILPTarget {
    static func check(_ bytes: UnsafeRawBufferPointer) {
        for final in [true, false] {
            requireSameAnswer(bytes) { cuts in answer(bytes, cuts: cuts, final: final) }
            let plain = answer(bytes, cuts: [], final: final)
            let memo = LineSeriesMemo()
            let cold = answer(bytes, cuts: [], final: final, memo: memo)
            precondition(cold == plain, "a cold series memo changed the answer:\n\(plain)\n\(cold)")
            let warm = answer(bytes, cuts: [], final: final, memo: memo)
            precondition(warm == plain, "a warmed series memo changed the answer:\n\(plain)\n\(warm)")
        }
    }

    static func answer(_ bytes: UnsafeRawBufferPointer, cuts: [Int], final: Bool, memo: LineSeriesMemo? = nil) -> [String] {
        var stream = LineStream(maxLineBytes: 512)
        if let memo { stream.use(memo) }
        var out: [String] = []
        var start = 0
        do throws(LineIngestError) {
            for end in cuts + [bytes.count] where end >= start {
                stream.feed(ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: bytes[start..<end])))
                start = end
                _ = try stream.drain { parser, buffer, number in
                    out.append(describe(parser, buffer, number))
                    return nil
                }
            }
            if final {
                stream.finish()
                _ = try stream.drain { parser, buffer, number in
                    out.append(describe(parser, buffer, number))
                    return nil
                }
            }
        } catch {
            out.append("error: \(error)")
        }
        return out
    }

    static func describe(_ parser: LineParser, _ buffer: UnsafeRawBufferPointer, _ number: Int) -> String {
        var text = "\(number) \(LineText.string(buffer, parser.table))"
        for index in 0..<parser.entityCount {
            let entity = parser.entity(index)
            text += " | \(entity.kind) \(LineText.string(buffer, entity.name))=\(LineText.string(buffer, entity.range))"
            text += " \(entity.integer) \(entity.double.bitPattern) \(entity.unit) \(entity.dimensions)"
        }
        if let timestamp = parser.timestamp { text += " @\(timestamp) \(String(describing: parser.timestampUnit))" }
        return text
    }
}

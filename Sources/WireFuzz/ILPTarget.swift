import LineProtocol
import NIOCore

/// ILP: every line's table, entities and timestamp, or the error, as an HTTP body (the end
/// ends the last line) and as a TCP stream.
enum ILPTarget {
    static func check(_ bytes: UnsafeRawBufferPointer) {
        for final in [true, false] {
            requireSameAnswer(bytes) { cuts in answer(bytes, cuts: cuts, final: final) }
        }
    }

    static func answer(_ bytes: UnsafeRawBufferPointer, cuts: [Int], final: Bool) -> [String] {
        var stream = LineStream(maxLineBytes: 512)
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

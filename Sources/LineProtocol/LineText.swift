/// Turning ranges of a parsed buffer into bytes and strings, dropping escape backslashes.
package enum LineText {
    /// The bytes of `range` with escapes resolved: `\x` becomes `x`.
    package static func unescaped(_ buffer: UnsafeRawBufferPointer, _ range: LineRange, into scratch: inout [UInt8]) {
        scratch.removeAll(keepingCapacity: true)
        var index = range.start
        while index < range.end {
            let byte = buffer[index]
            if range.escaped && byte == Byte.backslash && index + 1 < range.end {
                scratch.append(buffer[index + 1])
                index += 2
            } else {
                scratch.append(byte)
                index += 1
            }
        }
    }

    /// `range` as a String (invalid UTF-8 repaired), escapes resolved. Names and errors only:
    /// values are copied as bytes.
    package static func string(_ buffer: UnsafeRawBufferPointer, _ range: LineRange) -> String {
        guard range.end <= buffer.count, range.start <= range.end else { return "" }
        if !range.escaped {
            return String(decoding: UnsafeRawBufferPointer(rebasing: buffer[range.start..<range.end]), as: UTF8.self)
        }
        var scratch: [UInt8] = []
        unescaped(buffer, range, into: &scratch)
        return String(decoding: scratch, as: UTF8.self)
    }
}

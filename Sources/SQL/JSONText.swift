/// JSON string literals, escaped as RFC 8259 requires (quotes, backslashes, control bytes).
package enum JSONText {
    package static func quoted(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + 2)
        TextBytes.appendJSONQuoted(text, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

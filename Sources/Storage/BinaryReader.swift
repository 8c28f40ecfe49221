/// A bounds-checked little-endian cursor over bytes, for decoding persistent formats:
/// every read past the end is an error, never a crash.
struct BinaryReader {
    private let bytes: [UInt8]
    private(set) var offset: Int

    init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }

    struct Overrun: Error {}

    mutating func read<T: FixedWidthInteger>(_ type: T.Type) throws(Overrun) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw Overrun() }
        let value = bytes.withUnsafeBytes { $0.loadLittleEndian(fromByteOffset: offset, as: T.self) }
        offset += size
        return value
    }

    mutating func readBytes(_ count: Int) throws(Overrun) -> ArraySlice<UInt8> {
        guard count >= 0, remaining >= count else { throw Overrun() }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    /// A UTF-8 string prefixed by its u16 length; invalid UTF-8 is an overrun-class error.
    mutating func readString() throws(Overrun) -> String {
        let length = Int(try read(UInt16.self))
        guard let text = String(validating: try readBytes(length), as: UTF8.self) else { throw Overrun() }
        return text
    }
}

extension Array where Element == UInt8 {
    mutating func appendString(_ text: String) {
        let utf8 = Array(text.utf8)
        precondition(utf8.count <= Int(UInt16.max), "string too long for a u16 length")
        appendLittleEndian(UInt16(utf8.count))
        append(contentsOf: utf8)
    }
}

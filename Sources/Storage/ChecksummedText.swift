/// Small operator-readable state files (`node/epochs`, `node/replication-slots`): a format line
/// `MAGIC VERSION`, body lines, and `checksum=crc32c:XXXXXXXX` over everything before it.
/// Any edit or bit flip is refused when read; files are replaced atomically by `DurableFile`.
package enum ChecksummedText {
    /// The file's bytes for `lines` under the format line.
    package static func seal(magic: String, version: Int, lines: [String]) -> [UInt8] {
        var body = "\(magic) \(version)\n"
        for line in lines { body += line + "\n" }
        let checksum = String(CRC32C.checksum(body.utf8), radix: 16)
        return Array((body + "checksum=crc32c:\(String(repeating: "0", count: 8 - checksum.count) + checksum)\n").utf8)
    }

    /// The body lines of a verified file; `what` names it in errors ("epoch history").
    package static func open(_ bytes: [UInt8], magic: String, version: Int, what: String, path: String)
        throws(StorageError) -> [Substring]
    {
        let text = String(decoding: bytes, as: UTF8.self)
        var all = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard all.last == "" else { throw StorageError(.corrupt, path: path, "\(what) does not end with a newline; the file is damaged") }
        all.removeLast()
        let prefix = "checksum=crc32c:"
        guard let last = all.popLast(), last.hasPrefix(prefix) else {
            throw StorageError(.corrupt, path: path, "\(what) has no checksum line; the file is damaged")
        }
        let body = all.map { $0 + "\n" }.joined()
        guard let expected = UInt32(last.dropFirst(prefix.count), radix: 16), expected == CRC32C.checksum(body.utf8) else {
            throw StorageError(.corrupt, path: path, "\(what) checksum mismatch; the file is damaged or was edited")
        }
        var lines = all[...]
        guard lines.popFirst() == Substring("\(magic) \(version)") else {
            throw StorageError(.unsupportedVersion, path: path, "not a \(what) file of format \(version)")
        }
        return Array(lines)
    }
}

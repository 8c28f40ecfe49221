/// Splits CSV bytes into records and fields (RFC 4180: quoted fields, doubled quotes, line
/// breaks inside quotes, CRLF or LF). Pure and resumable: feed bytes as they arrive; complete
/// records come out, a cut record waits for the rest. A record longer than the limit is an error.
package struct CSVRecordReader {
    package let delimiter: UInt8
    package let maxRecordBytes: Int
    private var pending: [UInt8] = []
    /// Scan state inside `pending` for the record being assembled.
    private var scanned = 0
    private var inQuotes = false
    /// Line number (1-based) of the next record, for error messages.
    package private(set) var line = 1
    /// A record found too long after others completed in the same call: those are returned
    /// first and every later call throws this, so what comes out before the error does not
    /// depend on where the input was cut.
    private var failure: Failure?

    package init(delimiter: UInt8 = UInt8(ascii: ","), maxRecordBytes: Int = 1 << 20) {
        self.delimiter = delimiter
        self.maxRecordBytes = maxRecordBytes
    }

    package enum Failure: Error, Equatable {
        case recordTooLong(line: Int, limit: Int)
    }

    /// Appends `bytes` and returns every record now complete (fields as text; invalid UTF-8 is
    /// replaced).
    package mutating func feed(_ bytes: some Collection<UInt8>) throws(Failure) -> [[String?]] {
        if let failure { throw failure }
        pending.append(contentsOf: bytes)
        return try drain(final: false)
    }

    /// The last record when the input ends without a line break.
    package mutating func finish() throws(Failure) -> [[String?]] {
        if let failure { throw failure }
        return try drain(final: true)
    }

    private mutating func drain(final: Bool) throws(Failure) -> [[String?]] {
        var records: [[String?]] = []
        var start = 0
        var index = scanned
        while index < pending.count {
            let byte = pending[index]
            if byte == UInt8(ascii: "\"") {
                inQuotes.toggle()
            } else if byte == UInt8(ascii: "\n"), !inQuotes {
                var end = index
                if end > start, pending[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                records.append(fields(pending[start..<end]))
                line += 1 + pending[start..<end].reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
                start = index + 1
            }
            index += 1
            if index - start > maxRecordBytes {
                let tooLong = Failure.recordTooLong(line: line, limit: maxRecordBytes)
                failure = tooLong
                if records.isEmpty { throw tooLong }
                return Self.withoutBlankLines(records)
            }
        }
        if final, start < pending.count {
            var end = pending.count
            if pending[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            records.append(fields(pending[start..<end]))
            start = pending.count
            inQuotes = false
        }
        pending.removeFirst(start)
        scanned = pending.count
        return Self.withoutBlankLines(records)
    }

    /// An empty line reads as one NULL field; it is no record.
    private static func withoutBlankLines(_ records: [[String?]]) -> [[String?]] {
        records.filter { !($0.count == 1 && $0[0] == nil) }
    }

    /// The fields of one record: quotes removed, `""` unescaped. An empty unquoted field is
    /// nil (NULL, as `/exp` writes it); `""` is the empty string.
    private func fields(_ record: ArraySlice<UInt8>) -> [String?] {
        var fields: [String?] = []
        var field: [UInt8] = []
        var quoted = false
        var wasQuoted = false
        var index = record.startIndex
        while index < record.endIndex {
            let byte = record[index]
            if quoted {
                if byte == UInt8(ascii: "\"") {
                    if index + 1 < record.endIndex, record[index + 1] == UInt8(ascii: "\"") {
                        field.append(byte)
                        index += 1
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(byte)
                }
            } else if byte == UInt8(ascii: "\"") {
                quoted = true
                wasQuoted = true
            } else if byte == delimiter {
                fields.append(field.isEmpty && !wasQuoted ? nil : String(decoding: field, as: UTF8.self))
                field.removeAll(keepingCapacity: true)
                wasQuoted = false
            } else {
                field.append(byte)
            }
            index += 1
        }
        fields.append(field.isEmpty && !wasQuoted ? nil : String(decoding: field, as: UTF8.self))
        return fields
    }
}

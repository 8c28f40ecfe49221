/// A `RowBatch` as a WAL record payload (kind `rowBatch`), column by column so the applier
/// can copy whole columns: fixed-width values are the `.d` bytes already.
///
/// Layout (little-endian): format u8, table id u32, schema version u64, row count u32,
/// column count u32, then per column: column id u32, type tag u8, type parameter u8, and
/// either `rows × width` value bytes, or `rows` i32 lengths (−1 NULL), data length u64, data;
/// a SYMBOL column (format 2, decision 0031) is `rows` i32 entry keys (−1 NULL), entry count
/// u32, that many i32 entry lengths, data length u64, the entries' bytes — each distinct value
/// once per batch. Format 3 (decision 0034) narrows integer-like columns: the value bytes of a
/// column `isNarrowable` says (and a SYMBOL column's keys) are preceded by a code width u8 —
/// 0: `rows × width` bytes as before; 1, 2 or 4: a base i64, then `rows` codes of that width
/// (`NarrowPlan`). Formats 1 (SYMBOL as lengths and bytes per row) and 2 are still read: WAL
/// written by an older version replays. The WAL record's CRC covers it; decoding still checks
/// every bound.
package enum RowBatchCodec {
    package static let formatVersion: UInt8 = 3
    /// Formats `decode` reads.
    static func isKnown(_ format: UInt8) -> Bool { format >= 1 && format <= 3 }

    /// Whether format 3 narrows a column of this type: fixed width 2, 4 or 8 bytes, not a float
    /// (its bit patterns have no useful span). Part of the format: changing it needs a new one.
    static func isNarrowable(_ type: ColumnType) -> Bool {
        switch type {
        case .float, .double: false
        default: [2, 4, 8].contains(type.fixedWidthBytes ?? 0)
        }
    }

    /// Appends the encoded batch to `output` (a reused buffer); `format` 2 only for tests of
    /// replaying older WAL.
    package static func encode(_ batch: RowBatch, into output: inout [UInt8], format: UInt8 = formatVersion) {
        precondition(format == 2 || format == formatVersion, "format \(format) is not written")
        write(batch, into: &output, format: format)
    }

    /// Several batches (distinct tables) as one payload: format u8, count u32, then per batch
    /// its byte length u64 and its `encode` payload.
    package static func encodeGroup(_ batches: [RowBatch], into output: inout [UInt8]) {
        writeGroup(batches, into: &output)
    }

    /// The payload of one batch (kind `rowBatch`) or of several (`rowBatchGroup`) as pieces
    /// that reference the batches' column bytes — valid while the batches are unchanged.
    /// `reusing`: a headers array from an earlier payload (`PayloadPieces.takeHeaders`), moved
    /// in (left empty) so this one fills its capacity instead of fresh memory.
    package static func pieces(_ batches: [RowBatch], reusing headers: inout [UInt8]) -> PayloadPieces {
        var pieces = PayloadPieces()
        pieces.adopt(&headers)
        writePieces(batches, into: &pieces)
        return pieces
    }

    package static func pieces(_ batches: [RowBatch]) -> PayloadPieces {
        var pieces = PayloadPieces()
        writePieces(batches, into: &pieces)
        return pieces
    }

    private static func writePieces(_ batches: [RowBatch], into pieces: inout PayloadPieces) {
        // Narrowed codes are copied in with the headers: at most half of each narrowable
        // column's bytes, reserved at once.
        pieces.reserveHeaders(batches.reduce(64 * batches.count) { total, batch in
            total + batch.schema.columns.reduce(0) { sum, column in
                sum + 64 + (isNarrowable(column.type) ? batch.rowCount * column.type.fixedWidthBytes! / 2 : 0)
            }
        })
        if batches.count == 1 { write(batches[0], into: &pieces) } else { writeGroup(batches, into: &pieces) }
    }

    private static func write<Output: PayloadWriter>(_ batch: RowBatch, into output: inout Output, format: UInt8 = formatVersion) {
        let schema = batch.schema
        output.append(format)
        output.appendLittleEndian(schema.tableID)
        output.appendLittleEndian(schema.version)
        output.appendLittleEndian(UInt32(batch.rowCount))
        output.appendLittleEndian(UInt32(schema.columns.count))
        for (index, column) in schema.columns.enumerated() {
            let buffer = batch.column(index)
            output.appendLittleEndian(column.id)
            let type = column.type.encoded
            output.append(type.tag)
            output.append(type.parameter)
            if buffer.isSymbol {
                writeFixed(buffer.fixed, width: 4, narrowing: format >= 3, into: &output)
                output.appendLittleEndian(UInt32(buffer.lengths.count))
                output.append(region: UnsafeRawBufferPointer(buffer.lengths))
                output.appendLittleEndian(UInt64(buffer.data.count))
                output.append(region: buffer.data)
            } else if buffer.isLengthPrefixed {
                output.append(region: UnsafeRawBufferPointer(buffer.lengths))
                output.appendLittleEndian(UInt64(buffer.data.count))
                output.append(region: buffer.data)
            } else {
                writeFixed(buffer.fixed, width: column.type.fixedWidthBytes!, narrowing: format >= 3 && isNarrowable(column.type),
                           into: &output)
            }
        }
    }

    private static func writeFixed<Output: PayloadWriter>(
        _ values: UnsafeRawBufferPointer, width: Int, narrowing: Bool, into output: inout Output
    ) {
        guard narrowing else { return output.append(region: values) }
        let plan = NarrowPlan.choose(values, width: width)
        output.append(UInt8(plan.codeWidth))
        guard plan.codeWidth > 0 else { return output.append(region: values) }
        output.appendLittleEndian(plan.base)
        output.append(narrowing: values, width: width, plan: plan)
    }

    private static func writeGroup<Output: PayloadWriter>(_ batches: [RowBatch], into output: inout Output) {
        output.append(formatVersion)
        output.appendLittleEndian(UInt32(batches.count))
        for batch in batches {
            let length = output.beginLength()
            write(batch, into: &output)
            output.endLength(length)
        }
    }

    /// The member payloads of a group, each checked to lie inside it.
    package static func members(ofGroup payload: [UInt8]) -> [ArraySlice<UInt8>]? {
        guard payload.count >= 5, isKnown(payload[0]) else { return nil }
        let count = Int(payload.withUnsafeBytes { $0.loadLittleEndian(fromByteOffset: 1, as: UInt32.self) })
        var members: [ArraySlice<UInt8>] = []
        var offset = 5
        for _ in 0..<count {
            guard offset + 8 <= payload.count else { return nil }
            let length = payload.withUnsafeBytes { $0.loadLittleEndian(fromByteOffset: offset, as: UInt64.self) }
            guard length <= UInt64(payload.count - offset - 8) else { return nil }
            members.append(payload[(offset + 8)..<(offset + 8 + Int(length))])
            offset += 8 + Int(length)
        }
        return offset == payload.count ? members : nil
    }

    /// The table a payload belongs to, read without decoding the rest.
    package static func tableID(of payload: [UInt8]) -> UInt32? {
        guard payload.count >= 5, isKnown(payload[0]) else { return nil }
        return payload.withUnsafeBytes { $0.loadLittleEndian(fromByteOffset: 1, as: UInt32.self) }
    }

    /// Decodes `payload` into `batch`, checking it matches `schema`: the batch is reset to
    /// `schema` first, or — `appending` — keeps its rows and gets these after them (the applier
    /// applies a run of one table's commits as one batch).
    package static func decode(
        _ payload: [UInt8], schema: TableSchema, into batch: RowBatch, appending: Bool = false
    ) throws(StorageError) {
        var reader = BinaryReader(payload)
        do {
            try decode(&reader, schema: schema, into: batch, appending: appending)
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(.corrupt, path: schema.name, "row batch payload is malformed (a field runs past the end)")
        }
        guard reader.remaining == 0 else {
            throw StorageError(.corrupt, path: schema.name, "row batch payload has \(reader.remaining) trailing bytes")
        }
    }

    private static func decode(_ reader: inout BinaryReader, schema: TableSchema, into batch: RowBatch, appending: Bool) throws {
        func mismatch(_ what: String) -> StorageError {
            StorageError(.corrupt, path: schema.name, "row batch does not match the table's schema: \(what)")
        }
        let format = try reader.read(UInt8.self)
        guard isKnown(format) else { throw mismatch("unknown batch format \(format)") }
        guard try reader.read(UInt32.self) == schema.tableID else { throw mismatch("table id") }
        let version = try reader.read(UInt64.self)
        guard version == schema.version else { throw mismatch("schema version \(version), table is at \(schema.version)") }
        let rows = Int(try reader.read(UInt32.self))
        guard Int(try reader.read(UInt32.self)) == schema.columns.count else { throw mismatch("column count") }
        if appending {
            guard batch.schema == schema else { throw mismatch("appended to a batch of another schema") }
        } else {
            batch.reset(schema: schema)
        }
        let firstRow = batch.rowCount
        for (index, column) in schema.columns.enumerated() {
            guard try reader.read(UInt32.self) == column.id else { throw mismatch("column id at position \(index)") }
            let tag = try reader.read(UInt8.self)
            let parameter = try reader.read(UInt8.self)
            guard ColumnType(tag: tag, parameter: parameter) == column.type else { throw mismatch("type of \(column.name)") }
            if column.type == .symbol && format >= 2 {
                let plan = format >= 3 ? try readPlan(&reader, width: 4, column: column.name) : nil
                let keyBytes = try reader.readBytes(rows * (plan?.codeWidth ?? 4))
                let entries = Int(try reader.read(UInt32.self))
                // Each entry is some row's value: more entries than rows is damage.
                guard entries <= rows else { throw mismatch("\(entries) symbol entries for \(rows) rows in \(column.name)") }
                let lengthBytes = try reader.readBytes(entries * 4)
                guard let total = totalLength(lengthBytes, count: entries, allowingNull: false) else {
                    throw mismatch("negative symbol entry length in \(column.name)")
                }
                guard try reader.read(UInt64.self) == UInt64(total) else { throw mismatch("data length of \(column.name)") }
                let data = try reader.readBytes(total)
                let fits: Bool
                if let plan {
                    fits = batch.loadNarrowSymbolColumn(
                        index, codes: keyBytes, rows: rows, plan: plan, lengths: lengthBytes, data: data, appending: appending)
                } else {
                    fits = keyBytes.withUnsafeBytes { ColumnStorage.keysFit($0, entries: entries) }
                    if fits { batch.loadColumn(index, fixed: keyBytes, lengths: lengthBytes, data: data, appending: appending) }
                }
                guard fits else { throw mismatch("symbol key out of its dictionary in \(column.name)") }
            } else if column.type.isVariableSize || column.type == .symbol {
                let lengthBytes = try reader.readBytes(rows * 4)
                guard let total = totalLength(lengthBytes, count: rows, allowingNull: true) else {
                    throw mismatch("negative length in \(column.name)")
                }
                guard try reader.read(UInt64.self) == UInt64(total) else { throw mismatch("data length of \(column.name)") }
                if column.type == .symbol {
                    batch.loadSymbolRows(index, lengths: lengthBytes, data: try reader.readBytes(total), appending: appending)
                } else {
                    batch.loadColumn(index, fixed: [], lengths: lengthBytes, data: try reader.readBytes(total), appending: appending)
                }
            } else {
                let width = column.type.fixedWidthBytes!
                if format >= 3, isNarrowable(column.type), let plan = try readPlan(&reader, width: width, column: column.name) {
                    let codes = try reader.readBytes(rows * plan.codeWidth)
                    batch.loadNarrowColumn(index, codes: codes, rows: rows, plan: plan, appending: appending)
                } else {
                    batch.loadColumn(index, fixed: try reader.readBytes(rows * width), lengths: [], data: [], appending: appending)
                }
            }
        }
        batch.finishDecoded(rows: firstRow..<firstRow + rows)
    }

    /// A narrowed column's plan, or `nil` when its values follow as they are.
    private static func readPlan(_ reader: inout BinaryReader, width: Int, column: String) throws -> NarrowPlan? {
        let codeWidth = Int(try reader.read(UInt8.self))
        guard codeWidth > 0 else { return nil }
        let plan = NarrowPlan(codeWidth: codeWidth, base: try reader.read(Int64.self))
        guard plan.isValid(forWidth: width) else {
            throw StorageError(.corrupt, path: column, "row batch column \(column) has \(codeWidth)-byte codes for \(width)-byte values")
        }
        return plan
    }

    /// The sum of `count` i32 lengths (−1, NULL, counting 0 when `allowingNull`), or `nil`
    /// when one is negative otherwise.
    private static func totalLength(_ bytes: ArraySlice<UInt8>, count: Int, allowingNull: Bool) -> Int? {
        bytes.withUnsafeBytes { raw in
            var total = 0
            for index in 0..<count {
                let length = raw.loadLittleEndian(fromByteOffset: index * 4, as: Int32.self)
                if length < 0 {
                    guard allowingNull && length == -1 else { return nil }
                } else {
                    total += Int(length)
                }
            }
            return total
        }
    }
}

/// Where the codec writes a payload: one array, or pieces (`PayloadPieces`).
protocol PayloadWriter {
    mutating func append(_ byte: UInt8)
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T)
    /// Column bytes, possibly large.
    mutating func append(region: UnsafeRawBufferPointer)
    /// The codes of `values` under `plan` (`NarrowPlan.narrow`).
    mutating func append(narrowing values: UnsafeRawBufferPointer, width: Int, plan: NarrowPlan)
    /// Writes a u64 length to be filled by `endLength` with the bytes written in between.
    mutating func beginLength() -> PayloadLength
    mutating func endLength(_ length: PayloadLength)
}

struct PayloadLength {
    /// Where the u64 goes, and the payload's size just after it.
    let slot: Int
    let start: Int
}

extension Array: PayloadWriter where Element == UInt8 {
    mutating func append(region: UnsafeRawBufferPointer) {
        append(contentsOf: region)
    }

    mutating func append(narrowing values: UnsafeRawBufferPointer, width: Int, plan: NarrowPlan) {
        let start = count
        let size = values.count / width * plan.codeWidth
        append(contentsOf: repeatElement(0, count: size))
        withUnsafeMutableBytes { plan.narrow(values, width: width, into: $0.baseAddress! + start) }
    }

    mutating func beginLength() -> PayloadLength {
        appendLittleEndian(UInt64(0))
        return PayloadLength(slot: count - 8, start: count)
    }

    mutating func endLength(_ length: PayloadLength) {
        Self.patch(&self, at: length.slot, UInt64(count - length.start))
    }

    fileprivate static func patch(_ bytes: inout [UInt8], at slot: Int, _ value: UInt64) {
        Swift.withUnsafeBytes(of: value.littleEndian) { raw in
            for index in 0..<8 { bytes[slot + index] = raw[index] }
        }
    }
}

/// A payload as the pieces it is made of: the codec's small fields (and small columns) in one
/// array, larger column bytes referenced where their batch keeps them. The WAL writes a batch
/// from these without first copying it into one array — for ILP's 10 000-row requests, a
/// pass over megabytes saved per commit. Valid while the batches are unchanged.
package struct PayloadPieces: PayloadWriter {
    private enum Piece {
        case header(Range<Int>)
        case region(UnsafeRawBufferPointer)
    }

    /// Regions up to this size are copied in with the headers: a piece each would cost more
    /// (a 1-row batch becomes one contiguous piece).
    static let largestCopiedRegion = 512

    private var headers: [UInt8] = []
    private var pieces: [Piece] = []
    /// Bytes of the whole payload.
    package private(set) var count = 0

    /// Takes `buffer` (leaving it empty) as the headers array of these still empty pieces.
    /// Swapped, never copied: a second reference would make the first append copy it anew.
    mutating func adopt(_ buffer: inout [UInt8]) {
        precondition(count == 0, "headers adopted by pieces that hold a payload")
        swap(&headers, &buffer)
        headers.removeAll(keepingCapacity: true)
        buffer = []
    }

    /// The headers array, emptied with its capacity, for the next payload to reuse; these
    /// pieces are empty after.
    package mutating func takeHeaders() -> [UInt8] {
        var taken: [UInt8] = []
        swap(&taken, &headers)
        taken.removeAll(keepingCapacity: true)
        pieces.removeAll()
        count = 0
        return taken
    }

    mutating func append(_ byte: UInt8) {
        headers.append(byte)
        grewHeaders(by: 1)
    }

    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        headers.appendLittleEndian(value)
        grewHeaders(by: MemoryLayout<T>.size)
    }

    mutating func append(region: UnsafeRawBufferPointer) {
        guard region.count > Self.largestCopiedRegion else {
            headers.append(contentsOf: region)
            grewHeaders(by: region.count)
            return
        }
        pieces.append(.region(region))
        count += region.count
    }

    mutating func append(narrowing values: UnsafeRawBufferPointer, width: Int, plan: NarrowPlan) {
        headers.append(narrowing: values, width: width, plan: plan)
        grewHeaders(by: values.count / width * plan.codeWidth)
    }

    /// Makes room for `bytes` of headers and copied codes: the array is not regrown piecemeal.
    mutating func reserveHeaders(_ bytes: Int) {
        headers.reserveCapacity(bytes)
    }

    mutating func beginLength() -> PayloadLength {
        appendLittleEndian(UInt64(0))
        return PayloadLength(slot: headers.count - 8, start: count)
    }

    mutating func endLength(_ length: PayloadLength) {
        [UInt8].patch(&headers, at: length.slot, UInt64(count - length.start))
    }

    private mutating func grewHeaders(by bytes: Int) {
        let end = headers.count
        if case .header(let range)? = pieces.last, range.upperBound == end - bytes {
            pieces[pieces.count - 1] = .header(range.lowerBound..<end)
        } else {
            pieces.append(.header(end - bytes..<end))
        }
        count += bytes
    }

    /// Calls `body` with the pieces in order.
    package func withBuffers<Result>(_ body: ([UnsafeRawBufferPointer]) throws(StorageError) -> Result) throws(StorageError) -> Result {
        try headers.withUnsafeBytes { base in
            Swift.Result { () throws(StorageError) in
                try body(pieces.map { piece in
                    switch piece {
                    case .header(let range): UnsafeRawBufferPointer(rebasing: base[range])
                    case .region(let region): region
                    }
                })
            }
        }.get()
    }
}

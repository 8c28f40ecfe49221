#if canImport(Glibc)
import Glibc
#endif
import CByteScan
import Storage

/// What one call to `LineParser.parse` found.
package enum LineParseOutcome: Sendable, Equatable {
    /// A whole line; the parser's properties describe it until the next call. `end` is the
    /// offset just past its end-of-line byte.
    case line(end: Int)
    /// An empty line (a lone `\n` or `\r`), skipped.
    case emptyLine(end: Int)
    /// The buffer ends inside the line: call again from the same offset with more bytes.
    case incomplete
    case failed(LineParseError)
}

/// The InfluxDB line protocol as QuestDB reads it (QUESTDB-COMPAT §1.1–§1.3): text values of
/// protocol v1 and binary values of v2 (`name==<type><payload>`).
///
/// Pure and zero-copy: a line is described as ranges into the caller's buffer (names and
/// values are never copied; numbers are decoded in place), and the entity list is reused, so
/// a warm parser allocates nothing per line. Resumable at any byte boundary: when the buffer
/// ends inside a line the answer is `.incomplete` and the caller calls again from the line's
/// start once more bytes are there (lines are bounded by `maxLineBytes`, so rescanning a
/// partial line costs at most one extra pass over it).
package struct LineParser {
    /// The table name of the last line.
    package private(set) var table = LineRange(start: 0, end: 0)
    /// Entities of the current line in one buffer that only grows: storing one is a plain
    /// write, with no copy-on-write check per field.
    private let storage = LineEntityStorage(capacity: 64)
    /// Tags then fields of the last line, in line order; the first `tagCount` are tags.
    package private(set) var entityCount = 0
    package private(set) var tagCount = 0
    /// The trailing timestamp of the last line and its suffix unit (`nil`: none given, so
    /// the transport's default unit applies).
    package private(set) var timestamp: Int64?
    package private(set) var timestampUnit: LineTimestampUnit?
    package let maxLineBytes: Int
    /// Series keys seen before and how they parsed (the stream's ingestor owns it); `nil`:
    /// every line is tokenized whole.
    package var seriesMemo: LineSeriesMemo?
    /// The last line's series in `seriesMemo` (−1: none), an id of `seriesGeneration`.
    package private(set) var seriesID = -1
    package private(set) var seriesGeneration: UInt64 = 0

    package init(maxLineBytes: Int = 1 << 20) {
        self.maxLineBytes = maxLineBytes
    }

    package func entity(_ index: Int) -> LineEntity { entityPointer(index).pointee }

    /// Where entity `index` is, valid until the next `parse`: its fields read one by one. A
    /// copy of the whole entity right after the parser stored its fields stalls on store
    /// forwarding (wide loads over narrow recent stores) — a fifth of the row writer's time.
    @inline(__always)
    package func entityPointer(_ index: Int) -> UnsafePointer<LineEntity> {
        // A remembered series' tags are copied in only when first read: a row writer that
        // knows the series sets its tags by id and never reads them.
        if index < tagCount && storage.deferredTags != nil { storage.copyDeferredTags() }
        return UnsafePointer(storage.pointer + index)
    }

    /// Parses the line starting at `start`. With `isFinal` the end of the buffer ends the last
    /// line (HTTP: the body may lack a trailing newline); without, it means "more to come".
    package mutating func parse(_ buffer: UnsafeRawBufferPointer, from start: Int, isFinal: Bool) -> LineParseOutcome {
        var cursor = Cursor(buffer: buffer, start: start, isFinal: isFinal)
        entityCount = 0
        tagCount = 0
        timestamp = nil
        timestampUnit = nil
        seriesID = -1
        storage.deferredTags = nil
        table = LineRange(start: start, end: start)
        do throws(Stop) {
            return try parseLine(&cursor)
        } catch {
            let tooLong = LineParseError(.lineTooLong, value: "\(maxLineBytes)", offset: start)
            switch error {
            case .incomplete:
                if buffer.count - start > maxLineBytes { return .failed(tooLong) }
                return .incomplete
            case .failed(let error):
                // A fault found past the size limit is reported as the limit: a stream cut
                // anywhere before the fault would have said so first (found by the fuzzer).
                if max(cursor.index, cursor.rewound) + 1 - start > maxLineBytes { return .failed(tooLong) }
                return .failed(error)
            case .truncated:
                if max(cursor.index, cursor.rewound) + 1 - start > maxLineBytes { return .failed(tooLong) }
                return .failed(LineParseError(.invalidFieldValue, table: LineText.string(buffer, table), offset: cursor.index))
            }
        }
    }

    // MARK: Grammar

    // The grammar's functions are inlined into one loop: called, they kept the cursor in
    // memory and reloaded it around every token; inlined, it lives in registers (decision 0029).
    @inline(__always)
    private mutating func parseLine(_ c: inout Cursor) throws(Stop) -> LineParseOutcome {
        let first = try c.byte()
        if first == Byte.newline || first == Byte.carriageReturn {
            return .emptyLine(end: c.index + 1)
        }
        // A series key seen before: its table and tags are copied, not tokenized again.
        var restored = false
        var missed: (end: Int, hash: UInt64)?
        if let memo = seriesMemo, memo.shouldLook(), let keyEnd = Self.seriesKeyEnd(c) {
            let key = UnsafeRawBufferPointer(start: c.base + c.start, count: keyEnd - c.start)
            let hash = LineSeriesMemo.hash(key)
            if let id = memo.find(key, hash: hash) {
                restoreSeries(id, of: memo, at: c.start, &c, keyEnd: keyEnd)
                restored = true
            } else {
                memo.noteMiss()
                missed = (keyEnd, hash)
            }
        }
        var stop = Byte.space
        if !restored { stop = try parseSeries(&c) }
        if let missed, stop == Byte.space, c.index == missed.end, tagCount > 0, let memo = seriesMemo,
           let id = memo.remember(
            UnsafeRawBufferPointer(start: c.base + c.start, count: missed.end - c.start), hash: missed.hash,
            lineStart: c.start, tableEnd: table.end, entities: storage.pointer, tagCount: tagCount)
        {
            seriesID = id
            seriesGeneration = memo.generation
        }
        if Byte.isEndOfLine(stop) {
            guard entityCount > 0 else { throw fail(.noFields, c) }
            return try finish(&c)
        }
        // `stop` is a space: the field set.
        c.index += 1
        var fieldCount = 0
        while true {
            let at = try c.byte()
            if Byte.isEndOfLine(at) {
                guard entityCount > 0 else { throw fail(.noFields, c) }
                return try finish(&c)
            }
            let key: LineRange
            (key, stop) = try Self.scanName(&c, table: table)
            if stop != Byte.equals {
                // A lone token right after the tags is the timestamp of a line without fields.
                if fieldCount == 0 && tagCount > 0 && Byte.isEndOfLine(stop) {
                    c.rewound = c.index
                    c.index = key.start
                    return try parseTimestamp(&c)
                }
                if fieldCount == 0 && tagCount == 0 { throw fail(.noFields, c) }
                throw fail(.missingFieldValue, c, name: key)
            }
            guard !key.isEmpty else { throw fail(.invalidColumnName, c, name: key) }
            c.index += 1
            try parseFieldValue(&c, name: key)
            fieldCount += 1
            let separator = try c.byte()
            if separator == Byte.comma {
                c.index += 1
                continue
            }
            if Byte.isEndOfLine(separator) { return try finish(&c) }
            guard separator == Byte.space else { throw fail(.invalidFieldSeparator, c, name: key) }
            c.index += 1
            return try parseTimestamp(&c)
        }
    }

    /// The table name and the tags (`,key=value` until a space or the end of the line);
    /// returns the byte they stopped at.
    @inline(__always)
    private mutating func parseSeries(_ c: inout Cursor) throws(Stop) -> UInt8 {
        var (name, stop) = try Self.scanName(&c, table: table)
        table = name
        guard !name.isEmpty else { throw fail(.invalidTableName, c, offset: c.index) }
        guard stop == Byte.comma else { return stop }
        repeat {
            c.index += 1
            let key: LineRange
            (key, stop) = try Self.scanName(&c, table: table)
            guard stop == Byte.equals else { throw fail(.missingTagValue, c, name: key) }
            guard !key.isEmpty else { throw fail(.invalidColumnName, c, name: key) }
            c.index += 1
            let value = try Self.scanValue(&c, table: table)
            stop = try c.byte()
            guard !value.isEmpty else { throw fail(.missingTagValue, c, name: key) }
            append(LineEntity(name: key, kind: .tag, range: value, integer: 0, double: 0, unit: .nanos, dimensions: 0))
            tagCount += 1
        } while stop == Byte.comma
        return stop
    }

    /// Where the line's series key ends — its first space — when that comes before any
    /// backslash, NUL or line end (so no escape can hide the real end) and within
    /// `LineSeriesMemo.maxKeyBytes`; `nil` otherwise, or when the buffer ends first.
    @inline(__always)
    private static func seriesKeyEnd(_ c: Cursor) -> Int? {
        let limit = min(c.count, c.start + LineSeriesMemo.maxKeyBytes + 1)
        let end = sundial_scan_stops(c.base, c.start, limit, Byte.space, Byte.newline, Byte.carriageReturn, Byte.backslash, 0, 0, 0)
        guard end < limit, end > c.start, c.base[end] == Byte.space else { return nil }
        return end
    }

    /// Takes the table and tags of remembered series `id` for the line at `start`, and moves
    /// the cursor to the space that ends its key.
    @inline(__always)
    private mutating func restoreSeries(_ id: Int, of memo: LineSeriesMemo, at start: Int, _ c: inout Cursor, keyEnd: Int) {
        let (tableEnd, tags, highBit) = memo.template(id)
        table = LineRange(start: start, end: start + tableEnd)
        while storage.capacity < tags.count { storage.grow() }
        storage.deferredTags = tags
        storage.deferredLineStart = start
        // The UTF-8 check of a line with a high bit reads the tags: they must be in place.
        if highBit { storage.copyDeferredTags() }
        entityCount = tags.count
        tagCount = tags.count
        seriesID = id
        seriesGeneration = memo.generation
        c.skipKnown(to: keyEnd, highBit: highBit)
    }

    /// The trailing timestamp: digits with an optional `n`/`t`/`m` suffix, up to the end of
    /// the line. An empty token (a trailing space) means no timestamp.
    @inline(__always)
    private mutating func parseTimestamp(_ c: inout Cursor) throws(Stop) -> LineParseOutcome {
        let start = c.index
        // Up to the end of the line, by the block's stop bits (a space or comma on the way is
        // part of the token, which then fails whole, as QuestDB reports it).
        while true {
            c.index = c.nextStop(inValue: true)
            if Byte.isEndOfLine(try c.byte()) { break }
            c.index += 1
        }
        let token = LineRange(start: start, end: c.index)
        guard !token.isEmpty else { return try finish(&c) }
        guard let (value, unit) = Self.integer(c.base, token, allowingSuffixes: true) else {
            throw fail(.invalidTimestamp, c, value: token)
        }
        timestamp = value
        timestampUnit = unit
        return try finish(&c)
    }

    private func finish(_ c: inout Cursor) throws(Stop) -> LineParseOutcome {
        // `c.index` is at the end-of-line byte (or the virtual one past a final buffer).
        let end = min(c.index + 1, c.count)
        if end - c.start > maxLineBytes {
            throw .failed(LineParseError(.lineTooLong, value: "\(maxLineBytes)", offset: c.start))
        }
        try checkUTF8(c, end: c.index)
        return .line(end: end)
    }

    /// Names and text values must be UTF-8 (RELIABILITY I6). A pure-ASCII line — nearly all of
    /// them — costs only the bytes the token scans' blocks did not see; a high bit anywhere
    /// (binary payloads included) sends the line to the exact check of its names and texts.
    private func checkUTF8(_ c: Cursor, end: Int) throws(Stop) {
        var high: UInt64 = c.highBitSeen ? 0x80 : 0
        // The token scans' blocks saw the line's bytes up to `coveredEnd`, unless there was a gap.
        var index = c.coveredEnd > c.start ? c.coveredEnd : c.start
        let raw = UnsafeRawPointer(c.base)
        while index + 8 <= end {
            high |= raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            index += 8
        }
        while index < end {
            high |= UInt64(c.base[index])
            index += 1
        }
        guard high & 0x8080_8080_8080_8080 != 0 else { return }
        storage.copyDeferredTags()
        var ranges = [table]
        for index in 0..<entityCount {
            let entity = storage.pointer[index]
            ranges.append(entity.name)
            if entity.kind == .tag || entity.kind == .string { ranges.append(entity.range) }
        }
        for range in ranges where !UTF8Check.isValid(c.buffer, range) {
            throw .failed(LineParseError(.invalidUTF8, table: LineText.string(c.buffer, table), offset: range.start))
        }
    }

    @inline(__always)
    private mutating func parseFieldValue(_ c: inout Cursor, name: LineRange) throws(Stop) {
        let first = try c.byte()
        if first != Byte.quote && first != Byte.equals {
            // The common case, an unquoted value, is decoded straight into its slot: a local
            // entity copied in afterwards was read back right after its fields were stored,
            // which stalls on store forwarding.
            let value = try Self.scanValue(&c, table: table)
            if entityCount == storage.capacity { storage.grow() }
            let slot = storage.pointer + entityCount
            slot.pointee = LineEntity(name: name, kind: .null, range: value, integer: 0, double: 0, unit: .nanos, dimensions: 0)
            try Self.classify(value, &c, table: table, into: &slot.pointee)
            entityCount += 1
            return
        }
        var entity = LineEntity.empty
        entity.name = name
        switch first {
        case Byte.quote:
            c.index += 1
            let start = c.index
            var escaped = false
            while true {
                c.index = Byte.skipQuoted(c.buffer, from: c.index)
                let byte = try c.realByte(orFail: fail(.invalidFieldValue, c, name: name, value: LineRange(start: start, end: c.index)))
                if byte == Byte.backslash {
                    _ = try c.realByte(at: c.index + 1, orFail: fail(.invalidFieldValue, c, name: name))
                    escaped = true
                    c.index += 2
                } else if byte == Byte.quote {
                    break
                } else if byte == Byte.newline {
                    // An unescaped newline inside quotes: the closing quote is missing.
                    throw fail(.invalidFieldValue, c, name: name, value: LineRange(start: start, end: c.index))
                } else {
                    c.index += 1
                }
            }
            entity.kind = .string
            entity.range = LineRange(start: start, end: c.index, escaped: escaped)
            c.index += 1
            let next = try c.byte()
            guard next == Byte.comma || next == Byte.space || Byte.isEndOfLine(next) else {
                throw fail(.invalidFieldSeparator, c, name: name)
            }
        case Byte.equals:
            c.index += 1
            do {
                try parseBinaryValue(&c, into: &entity)
            } catch {
                // A final buffer that ends inside a binary payload fails the field.
                if case .truncated = error { throw fail(.invalidFieldValue, c, name: name) }
                throw error
            }
        default:
            preconditionFailure("unquoted values are decoded above")
        }
        append(entity)
    }

    /// Protocol v2/v3 binary values (`name==<type byte><payload>`), little-endian.
    private func parseBinaryValue(_ c: inout Cursor, into entity: inout LineEntity) throws(Stop) {
        let typeOffset = c.index
        let type = try c.realByte(orFail: fail(.unsupportedBinaryFormat, c, name: entity.name))
        c.index += 1
        switch type {
        case BinaryType.double:
            entity.kind = .double
            entity.double = Double(bitPattern: try c.littleEndian(UInt64.self))
        case BinaryType.float:
            entity.kind = .double
            entity.double = Double(Float(bitPattern: try c.littleEndian(UInt32.self)))
        case BinaryType.int:
            entity.kind = .integer
            let raw = Int32(bitPattern: try c.littleEndian(UInt32.self))
            entity.integer = raw == Int32.min ? Int64.min : Int64(raw)
        case BinaryType.long:
            entity.kind = .integer
            entity.integer = Int64(bitPattern: try c.littleEndian(UInt64.self))
        case BinaryType.boolean:
            entity.kind = .boolean
            entity.integer = try c.littleEndian(UInt8.self) == 0 ? 0 : 1
        case BinaryType.timestamp:
            let unit = try c.littleEndian(UInt8.self)
            guard let decoded = [1: LineTimestampUnit.nanos, 2: .micros, 3: .millis][unit] else {
                throw fail(.unsupportedBinaryFormat, c, name: entity.name)
            }
            entity.kind = .timestamp
            entity.unit = decoded
            entity.integer = Int64(bitPattern: try c.littleEndian(UInt64.self))
        case BinaryType.array:
            try parseArray(&c, into: &entity)
        case BinaryType.decimal:
            // scale:u8 len:u8, then the unscaled value: big-endian two's complement.
            let scale = Int(try c.littleEndian(UInt8.self))
            let length = Int(try c.littleEndian(UInt8.self))
            guard length >= 1, length <= 32 else { throw fail(.unsupportedBinaryFormat, c, name: entity.name) }
            var value: Int64 = 0
            var fits = true
            let start = c.index
            let negative = try c.realByte(orFail: .truncated) & 0x80 != 0
            for index in 0..<length {
                let byte = try c.littleEndian(UInt8.self)
                // Bytes above the low eight must only extend the sign.
                if length - index > 8 {
                    fits = fits && byte == (negative ? 0xFF : 0x00)
                } else {
                    value = value << 8 | Int64(byte)
                }
            }
            if length < 8, negative { value |= -1 << (length * 8) }
            if length > 8, (value < 0) != negative { fits = false }
            if fits, scale <= Self.maxDecimalDigits, value.magnitude <= Self.largestDecimal {
                entity.kind = .decimal
                entity.integer = value
            } else {
                // Past 18 digits: the bytes stay where they are, read when the value is written.
                guard scale <= Self.maxWideDecimalDigits else { throw fail(.decimalNotSupported, c, name: entity.name) }
                entity.kind = .wideDecimal
                entity.range = LineRange(start: start, end: c.index)
                entity.integer = LineEntity.wideDecimalBinary
            }
            entity.dimensions = scale
        default:
            throw fail(.unsupportedBinaryFormat, c, name: entity.name, offset: typeOffset)
        }
        let next = try c.byte()
        guard next == Byte.comma || next == Byte.space || Byte.isEndOfLine(next) else {
            throw fail(.invalidFieldSeparator, c, name: entity.name)
        }
    }

    /// `elemType:u8 nDims:u8 shape:nDims×u32 values:8×∏shape`; the stored value starts at nDims.
    private func parseArray(_ c: inout Cursor, into entity: inout LineEntity) throws(Stop) {
        let elementType = try c.littleEndian(UInt8.self)
        let start = c.index
        let dimensions = Int(try c.littleEndian(UInt8.self))
        entity.kind = .doubleArray
        if dimensions == 0 {
            entity.range = LineRange(start: start, end: start)  // NULL array
            return
        }
        guard elementType == BinaryType.arrayElementDouble else { throw fail(.unsupportedArrayType, c, name: entity.name) }
        guard dimensions <= 32 else { throw fail(.invalidArray, c, name: entity.name) }
        var elements = 1
        for _ in 0..<dimensions {
            let length = Int(try c.littleEndian(UInt32.self))
            let (product, overflow) = elements.multipliedReportingOverflow(by: length)
            // Bounded by the line size long before any real overflow.
            guard !overflow, product <= maxLineBytes / 8 else { throw fail(.invalidArray, c, name: entity.name) }
            elements = product
        }
        try c.skip(elements * 8)
        entity.dimensions = dimensions
        entity.range = LineRange(start: start, end: c.index)
    }

    /// Types an unquoted text value by its form (QuestDB `ProtoEntity.parse`, §1.2).
    @inline(__always)
    private static func classify(_ value: LineRange, _ c: inout Cursor, table: LineRange, into entity: inout LineEntity) throws(Stop) {
        let bytes = c.buffer
        let p = c.base
        guard !value.isEmpty else {
            entity.kind = .null
            return
        }
        // Escapes make no sense in a number or a boolean: such a value is invalid.
        guard !value.escaped else { throw failure(.invalidFieldValue, c, table: table, name: entity.name, value: value) }
        entity.range = value
        if p[value.end - 1] | 0x20 == UInt8(ascii: "i") {
            // The commonest value first (`123i`); no boolean or NaN ends in `i` or `I`.
            return try classifyInteger(value, &c, table: table, into: &entity)
        }
        if let boolean = Self.boolean(bytes, value) {
            entity.kind = .boolean
            entity.integer = boolean ? 1 : 0
            return
        }
        let last = p[value.end - 1] | 0x20
        if last == UInt8(ascii: "n") && value.count == 3, let nan = Self.double(bytes, value) {
            // `NaN` ends in the nanosecond suffix's letter.
            entity.kind = .double
            entity.double = nan
            return
        }
        switch last {
        case UInt8(ascii: "t"), UInt8(ascii: "n"), UInt8(ascii: "m"):
            guard let (integer, unit) = Self.integer(p, value, allowingSuffixes: true), let unit else {
                throw failure(.invalidFieldValue, c, table: table, name: entity.name, value: value)
            }
            entity.kind = .timestamp
            entity.integer = integer
            entity.unit = unit
        case UInt8(ascii: "d") where p[value.end - 1] == UInt8(ascii: "d"):
            let text = LineRange(start: value.start, end: value.end - 1)
            guard let (unscaled, scale, digits) = Self.decimal(bytes, text) else {
                throw failure(.invalidFieldValue, c, table: table, name: entity.name, value: value)
            }
            if let unscaled {
                entity.kind = .decimal
                entity.integer = unscaled
            } else {
                // Past 18 digits: the text stays where it is, read when the value is written.
                guard digits <= Self.maxWideDecimalDigits else { throw failure(.decimalNotSupported, c, table: table, name: entity.name) }
                entity.kind = .wideDecimal
                entity.range = text
                entity.integer = LineEntity.wideDecimalText
            }
            entity.dimensions = scale
        default:
            guard let double = Self.double(bytes, value) else {
                throw failure(.invalidFieldValue, c, table: table, name: entity.name, value: value)
            }
            entity.kind = .double
            entity.double = double
        }
    }

    /// `123i`, `-5i` or `0x…i` (LONG256); an `I` suffix is invalid.
    @inline(__always)
    private static func classifyInteger(_ value: LineRange, _ c: inout Cursor, table: LineRange, into entity: inout LineEntity) throws(Stop) {
        let p = c.base
        let digits = LineRange(start: value.start, end: value.end - 1)
        if digits.count > 2 && p[digits.start] == UInt8(ascii: "0") && p[digits.start + 1] | 0x20 == UInt8(ascii: "x") {
            let hex = LineRange(start: digits.start + 2, end: digits.end)
            guard hex.count <= 64, (hex.start..<hex.end).allSatisfy({ Byte.isHexDigit(p[$0]) }) else {
                throw failure(.invalidFieldValue, c, table: table, name: entity.name, value: value)
            }
            entity.kind = .long256
            entity.range = hex
            return
        }
        guard p[value.end - 1] == UInt8(ascii: "i"), let (integer, _) = Self.integer(p, digits, allowingSuffixes: false) else {
            throw failure(.invalidFieldValue, c, table: table, name: entity.name, value: value)
        }
        entity.kind = .integer
        entity.integer = integer
    }

    // MARK: Scanning

    // The scanners are static: as methods they were handed a copy of the parser per token,
    // whose load right after the parser's own stores stalled on store forwarding.

    /// A table, tag or field name: up to an unescaped `,`, `=`, space or end of line.
    @inline(__always)
    private static func scanName(_ c: inout Cursor, table: LineRange) throws(Stop) -> (LineRange, UInt8) {
        try scanToken(&c, inValue: false, invalid: c.index == table.start ? .invalidTableName : .invalidColumnName, table: table)
    }

    /// A tag value or unquoted field value: up to an unescaped `,`, space or end of line.
    @inline(__always)
    private static func scanValue(_ c: inout Cursor, table: LineRange) throws(Stop) -> LineRange {
        try scanToken(&c, inValue: true, invalid: .invalidFieldValue, table: table).0
    }

    /// Bytes up to the first unescaped stop byte; returns the token and that byte.
    /// A NUL, or a backslash ending a final buffer, is `invalid`.
    @inline(__always)
    private static func scanToken(
        _ c: inout Cursor, inValue: Bool, invalid: LineParseError.Code, table: LineRange
    ) throws(Stop) -> (LineRange, UInt8) {
        let start = c.index
        var escaped = false
        while true {
            c.index = c.nextStop(inValue: inValue)
            let byte = try c.byte()
            switch byte {
            case Byte.backslash:
                _ = try c.realByte(at: c.index + 1, orFail: failure(invalid, c, table: table, offset: c.index))
                escaped = true
                c.index += 2
            case 0:
                throw failure(invalid, c, table: table, value: LineRange(start: start, end: c.index), offset: c.index)
            default:
                // `nextStop` stops only at a special byte (or the end: a virtual newline).
                return (LineRange(start: start, end: c.index, escaped: escaped), byte)
            }
        }
    }

    private mutating func append(_ entity: LineEntity) {
        if entityCount == storage.capacity { storage.grow() }
        storage.pointer[entityCount] = entity
        entityCount += 1
    }

    // MARK: Values

    /// `t`, `T`, `f`, `F`, `true`, `false` in any case.
    static func boolean(_ bytes: UnsafeRawBufferPointer, _ range: LineRange) -> Bool? {
        switch range.count {
        case 1:
            switch bytes[range.start] | 0x20 {
            case UInt8(ascii: "t"): return true
            case UInt8(ascii: "f"): return false
            default: return nil
            }
        case 4, 5:
            let word: StaticString = range.count == 4 ? "true" : "false"
            for index in 0..<range.count where bytes[range.start + index] | 0x20 != word.utf8Start[index] { return nil }
            return range.count == 4
        default:
            return nil
        }
    }

    /// A decimal integer with optional sign, and (when allowed) a `n`/`t`/`m` unit suffix.
    @inline(__always)
    static func integer(
        _ p: UnsafePointer<UInt8>, _ range: LineRange, allowingSuffixes: Bool
    ) -> (Int64, LineTimestampUnit?)? {
        guard !range.isEmpty, !range.escaped else { return nil }
        var end = range.end
        var unit: LineTimestampUnit?
        if allowingSuffixes {
            switch p[end - 1] {
            case UInt8(ascii: "n"): unit = .nanos
            case UInt8(ascii: "t"): unit = .micros
            case UInt8(ascii: "m"): unit = .millis
            default: break
            }
            if unit != nil { end -= 1 }
        }
        var index = range.start
        let negative = index < end && p[index] == UInt8(ascii: "-")
        if negative || (index < end && p[index] == UInt8(ascii: "+")) { index += 1 }
        guard index < end else { return nil }
        if end - index >= 16 {
            // Long values (nanosecond timestamps have 19 digits): eight digits per step.
            return longInteger(p, from: index, to: end, negative: negative).map { ($0, unit) }
        }
        if end - index <= 18 {
            // Eighteen digits cannot overflow: no checks per digit (nearly every value).
            var magnitude: Int64 = 0
            while index < end {
                let digit = p[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                magnitude = magnitude &* 10 &+ Int64(digit)
                index += 1
            }
            return (negative ? -magnitude : magnitude, unit)
        }
        var value: Int64 = 0
        while index < end {
            let digit = p[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            // Accumulate negatively so Int64.min parses; Int64.min itself is QuestDB's NULL.
            let (scaled, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (next, overflowB) = scaled.subtractingReportingOverflow(Int64(digit))
            guard !overflowA, !overflowB else { return nil }
            value = next
            index += 1
        }
        if !negative {
            guard value != Int64.min else { return nil }
            value = -value
        }
        return (value, unit)
    }

    /// The decimal digits `p[start..<end]` (at least 16) as a value with the sign given,
    /// eight at a time (SWAR): the leading `count % 8` one by one, then each word of eight
    /// checked and combined in three multiply steps. Overflow past Int64 (−2⁶³ allowed) is nil.
    @inline(__always)
    static func longInteger(_ p: UnsafePointer<UInt8>, from start: Int, to end: Int, negative: Bool) -> Int64? {
        var index = start
        var magnitude: UInt64 = 0
        let lead = (end - start) % 8
        while index < start + lead {
            let digit = p[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            magnitude = magnitude &* 10 &+ UInt64(digit)
            index += 1
        }
        let raw = UnsafeRawPointer(p)
        while index < end {
            let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            let digits = word &- 0x3030_3030_3030_3030
            // Every byte 0…9: no borrow into the high nibble, and none reaches 10 when 6 is added.
            guard (word & 0xF0F0_F0F0_F0F0_F0F0) == 0x3030_3030_3030_3030,
                  ((digits &+ 0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) == 0
            else { return nil }
            // Pairs, then fours, then the eight (the first digit is the lowest byte).
            var value = (digits &* 10) &+ (digits >> 8)
            value = ((value & 0x00FF_00FF_00FF_00FF) &* (1 + (100 << 16))) >> 16
            value = ((value & 0x0000_FFFF_0000_FFFF) &* (1 + (10_000 << 32))) >> 32
            let (scaled, overflowA) = magnitude.multipliedReportingOverflow(by: 100_000_000)
            let (sum, overflowB) = scaled.addingReportingOverflow(value)
            guard !overflowA, !overflowB else { return nil }
            magnitude = sum
            index += 8
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return Int64(truncatingIfNeeded: 0 &- magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    /// Most digits (and the largest scale) of a DECIMAL value: a DECIMAL column's (one Int64).
    static let maxDecimalDigits = 18
    static let largestDecimal: UInt64 = 999_999_999_999_999_999
    /// Most digits (and the largest scale) of a wide DECIMAL value (QuestDB's DECIMAL256).
    static let maxWideDecimalDigits = 76

    /// `[-+]digits[.digits]` (the text of a `…d` decimal): the unscaled value (nil past 18
    /// digits), the scale and the number of digits; nil when it is not of that shape.
    static func decimal(_ bytes: UnsafeRawBufferPointer, _ range: LineRange) -> (Int64?, Int, Int)? {
        var index = range.start
        let end = range.end
        let negative = index < end && bytes[index] == UInt8(ascii: "-")
        if negative || (index < end && bytes[index] == UInt8(ascii: "+")) { index += 1 }
        var value: Int64? = 0
        var digits = 0, scale = 0
        var point = false
        while index < end {
            let byte = bytes[index]
            if byte == UInt8(ascii: "."), !point {
                point = true
            } else if Byte.isDigit(byte) {
                digits += 1
                if point { scale += 1 }
                if let current = value {
                    let (shifted, o1) = current.multipliedReportingOverflow(by: 10)
                    let (next, o2) = shifted.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
                    value = o1 || o2 ? nil : next
                }
            } else {
                return nil
            }
            index += 1
        }
        guard digits > 0 else { return nil }
        if let current = value, current > Self.largestDecimal || scale > Self.maxDecimalDigits { value = nil }
        return (value.map { negative ? -$0 : $0 }, scale, digits)
    }

    /// A decimal floating-point number, `NaN`, `Infinity` or `-Infinity` (no hex floats).
    static func double(_ bytes: UnsafeRawBufferPointer, _ range: LineRange) -> Double? {
        var index = range.start
        let end = range.end
        if bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") { index += 1 }
        if Self.matches(bytes, index, end, "Infinity") {
            return bytes[range.start] == UInt8(ascii: "-") ? -.infinity : .infinity
        }
        if index == range.start && Self.matches(bytes, index, end, "NaN") { return .nan }
        // Shape check: digits [. digits] [e [sign] digits], at least one mantissa digit.
        var mantissaDigits = 0
        while index < end && Byte.isDigit(bytes[index]) { index += 1; mantissaDigits += 1 }
        if index < end && bytes[index] == UInt8(ascii: ".") {
            index += 1
            while index < end && Byte.isDigit(bytes[index]) { index += 1; mantissaDigits += 1 }
        }
        guard mantissaDigits > 0 else { return nil }
        if index < end && bytes[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            if index < end && (bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+")) { index += 1 }
            var exponentDigits = 0
            while index < end && Byte.isDigit(bytes[index]) { index += 1; exponentDigits += 1 }
            guard exponentDigits > 0 else { return nil }
        }
        guard index == end else { return nil }
        // strtod for correct rounding, on a NUL-terminated copy on the stack.
        let count = range.count
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: count + 1) { scratch -> Double? in
            for offset in 0..<count { scratch[offset] = CChar(bitPattern: bytes[range.start + offset]) }
            scratch[count] = 0
            var parsedEnd: UnsafeMutablePointer<CChar>?
            let value = strtod(scratch.baseAddress!, &parsedEnd)
            guard let parsedEnd, parsedEnd - scratch.baseAddress! == count else { return nil }
            return value
        }
    }

    private static func matches(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ word: StaticString) -> Bool {
        guard end - start == word.utf8CodeUnitCount else { return false }
        for index in 0..<word.utf8CodeUnitCount where bytes[start + index] != word.utf8Start[index] { return false }
        return true
    }

    // MARK: Errors

    private func fail(
        _ code: LineParseError.Code, _ c: Cursor, name: LineRange? = nil, value: LineRange? = nil, offset: Int? = nil
    ) -> Stop {
        Self.failure(code, c, table: table, name: name, value: value, offset: offset)
    }

    private static func failure(
        _ code: LineParseError.Code, _ c: Cursor, table: LineRange, name: LineRange? = nil, value: LineRange? = nil,
        offset: Int? = nil
    ) -> Stop {
        .failed(LineParseError(
            code, table: LineText.string(c.buffer, table), name: name.map { LineText.string(c.buffer, $0) } ?? "",
            value: value.map { LineText.string(c.buffer, $0) } ?? "", offset: offset ?? c.index))
    }

    private func fail(_ code: LineParseError.Code, _ c: Cursor, name: LineRange? = nil, offset: Int? = nil) -> Stop {
        fail(code, c, name: name, value: nil, offset: offset)
    }
}

/// The entity buffer of a parser. Shared by copies of the parser value, which is fine: a
/// stream uses one copy at a time, and every line rewrites the entities it reports.
final class LineEntityStorage {
    private(set) var pointer: UnsafeMutablePointer<LineEntity>
    private(set) var capacity: Int
    /// The tags of a remembered series, relative to `deferredLineStart`, not yet copied into
    /// the first entities (valid until the next parse: only parsing changes the memo).
    var deferredTags: UnsafeBufferPointer<LineSeriesMemo.Tag>?
    var deferredLineStart = 0

    @inline(never)
    func copyDeferredTags() {
        guard let tags = deferredTags else { return }
        deferredTags = nil
        let start = deferredLineStart
        for index in 0..<tags.count {
            let tag = tags[index]
            pointer[index] = LineEntity(
                name: LineRange(start: start + Int(tag.nameStart), end: start + Int(tag.nameEnd)), kind: .tag,
                range: LineRange(start: start + Int(tag.valueStart), end: start + Int(tag.valueEnd)),
                integer: 0, double: 0, unit: .nanos, dimensions: 0)
        }
    }

    init(capacity: Int) {
        self.capacity = capacity
        pointer = .allocate(capacity: capacity)
        pointer.initialize(repeating: .empty, count: capacity)
    }

    func grow() {
        let larger = UnsafeMutablePointer<LineEntity>.allocate(capacity: capacity * 2)
        larger.moveInitialize(from: pointer, count: capacity)
        (larger + capacity).initialize(repeating: .empty, count: capacity)
        pointer.deallocate()
        pointer = larger
        capacity *= 2
    }

    deinit {
        pointer.deinitialize(count: capacity)
        pointer.deallocate()
    }
}

/// A read position in the buffer, aware of where the data ends, with the stop bytes of the
/// 64-byte block around it classified once (`sundial_classify_block`).
private struct Cursor {
    let buffer: UnsafeRawBufferPointer
    /// The buffer's bytes and size, read once: the raw buffer's accessors may not inline
    /// into a parser this large.
    let base: UnsafePointer<UInt8>
    let count: Int
    let start: Int
    let isFinal: Bool
    var index: Int
    /// The block: bit i of the masks is byte `blockStart + i`; none is loaded at first.
    private var blockStart: Int
    private var stopBits: UInt64 = 0
    private var equalsBits: UInt64 = 0
    /// Blocks loaded one after another from `start` cover `start..<coveredEnd` (0: a block was
    /// loaded past a gap — a quoted string or binary payload skipped — so coverage is unknown);
    /// `highBitSeen`: a byte of them has its high bit set (maybe past the line: the UTF-8
    /// check then runs, which is only slower).
    private(set) var coveredEnd: Int
    private(set) var highBitSeen = false
    /// Where the cursor was before the one step back the grammar takes (a lone token after
    /// the tags, read again as a timestamp): how far the line was read, for the size limit.
    var rewound = 0

    init(buffer: UnsafeRawBufferPointer, start: Int, isFinal: Bool) {
        self.buffer = buffer
        self.base = buffer.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? Cursor.nothing
        self.count = buffer.count
        self.start = start
        self.isFinal = isFinal
        self.index = start
        self.blockStart = start &- 64
        self.coveredEnd = start
    }

    /// The first index from the cursor holding a stop byte of a name (NUL, LF, CR, space,
    /// `,`, `=`, backslash) — or, for a value, of the same but `=` — or the end of the buffer.
    @inline(__always)
    mutating func nextStop(inValue: Bool) -> Int {
        var from = index
        while true {
            let offset = from &- blockStart
            if UInt(bitPattern: offset) < 64 {
                let bits = (inValue ? stopBits & ~equalsBits : stopBits) >> UInt64(offset)
                if bits != 0 { return from + bits.trailingZeroBitCount }
                from = blockStart + 64
                // Past the end the block's bits are all set, so `from` never passes it.
            }
            loadBlock(at: from)
        }
    }

    private mutating func loadBlock(at position: Int) {
        blockStart = position
        guard position < count else {
            stopBits = ~0
            equalsBits = 0
            return
        }
        if sundial_classify_block(base, position, count, &stopBits, &equalsBits) != 0 { highBitSeen = true }
        coveredEnd = position == coveredEnd ? position + 64 : 0
    }

    /// Moves to `position` over bytes a series memo vouches for (they parsed before): the
    /// line's UTF-8 check need not read them, unless one of them has its high bit set.
    mutating func skipKnown(to position: Int, highBit: Bool) {
        if highBit { highBitSeen = true }
        if coveredEnd == start && position >= blockStart + 64 {
            // No block loaded yet: coverage goes on after the key's space (`base[position]`),
            // where the field set's first block is loaded.
            coveredEnd = position + 1
            blockStart = position &- 64
        }
        index = position
    }

    /// The byte at the cursor; past the end of a final buffer, a virtual newline.
    @inline(__always)
    func byte() throws(Stop) -> UInt8 {
        if index < count { return base[index] }
        if isFinal && index == count { return Byte.newline }
        throw .incomplete
    }

    /// A byte that must really be there (inside quotes, after a backslash, in a payload).
    func realByte(at position: Int? = nil, orFail failure: @autoclosure () -> Stop) throws(Stop) -> UInt8 {
        let position = position ?? index
        if position < count { return base[position] }
        if isFinal { throw failure() }
        throw .incomplete
    }

    mutating func littleEndian<T: FixedWidthInteger>(_ type: T.Type) throws(Stop) -> T {
        let size = MemoryLayout<T>.size
        guard index + size <= count else { throw isFinal ? .truncated : .incomplete }
        let value = buffer.loadUnaligned(fromByteOffset: index, as: T.self)
        index += size
        return T(littleEndian: value)
    }

    mutating func skip(_ bytes: Int) throws(Stop) {
        guard index + bytes <= self.count else { throw isFinal ? .truncated : .incomplete }
        index += bytes
    }

    /// A valid address for an empty buffer, never read.
    nonisolated(unsafe) private static let nothing: UnsafePointer<UInt8> = {
        let byte = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        byte.initialize(to: 0)
        return UnsafePointer(byte)
    }()
}

/// How parsing stops short of a line.
private enum Stop: Error {
    case incomplete
    /// A final buffer ended inside a binary payload.
    case truncated
    case failed(LineParseError)
}

/// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
enum UTF8Check {
    static func isValid(_ buffer: UnsafeRawBufferPointer, _ range: LineRange) -> Bool {
        var index = range.start
        while index < range.end {
            let lead = buffer[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            let count: Int
            let minimum: UInt32
            var scalar: UInt32
            switch lead {
            case 0xC2...0xDF: (count, minimum, scalar) = (1, 0x80, UInt32(lead & 0x1F))
            case 0xE0...0xEF: (count, minimum, scalar) = (2, 0x800, UInt32(lead & 0x0F))
            case 0xF0...0xF4: (count, minimum, scalar) = (3, 0x10000, UInt32(lead & 0x07))
            default: return false
            }
            guard index + count < range.end else { return false }
            for offset in 1...count {
                let next = buffer[index + offset]
                guard next & 0xC0 == 0x80 else { return false }
                scalar = scalar << 6 | UInt32(next & 0x3F)
            }
            guard scalar >= minimum, scalar <= 0x10FFFF, !(0xD800...0xDFFF).contains(scalar) else { return false }
            index += count + 1
        }
        return true
    }
}

/// Byte constants of the grammar.
enum Byte {
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
    static let comma = UInt8(ascii: ",")
    static let equals = UInt8(ascii: "=")
    static let space = UInt8(ascii: " ")
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")

    static func isEndOfLine(_ byte: UInt8) -> Bool { byte == newline || byte == carriageReturn }

    /// The first index from `start` holding a stop byte of a quoted string (LF, `"`,
    /// backslash), or the end, sixteen bytes at a time. (Names and unquoted values are
    /// scanned through `Cursor.nextStop`'s classified blocks.)
    @inline(__always)
    static func skipQuoted(_ buffer: UnsafeRawBufferPointer, from start: Int) -> Int {
        guard let base = buffer.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return start }
        return sundial_scan_quoted(base, start, buffer.count)
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }
    static func isHexDigit(_ byte: UInt8) -> Bool { isDigit(byte) || (byte | 0x20) &- UInt8(ascii: "a") < 6 }
}

/// Type bytes of binary values (QuestDB `ColumnType` tags as ILP v2 uses them).
enum BinaryType {
    static let float: UInt8 = 2
    static let int: UInt8 = 3
    static let boolean: UInt8 = 6
    static let arrayElementDouble: UInt8 = 10
    static let timestamp: UInt8 = 13
    static let array: UInt8 = 14
    static let long: UInt8 = 15
    static let double: UInt8 = 16
    static let decimal: UInt8 = 23
}

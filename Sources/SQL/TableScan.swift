import Storage

/// Reads a table snapshot a batch at a time: only the partitions that overlap the query's
/// timestamp intervals, only the rows inside them (binary search on the designated
/// timestamp), only the columns the query uses. With a predicate it reads the predicate's
/// columns first and the others only for the rows that pass (late materialisation).
/// `reverse` walks partitions and batches newest first (LATEST ON).
final class TableScan: RowSource {
    private let snapshot: TableSnapshot
    /// Schema column indexes the query reads, split by whether the predicate needs them.
    private let predicateColumns: [Int]
    private let otherColumns: [Int]
    private let predicate: BoundExpression?
    private let reverse: Bool
    private let batchRows: Int
    private var work: [WorkItem] = []
    private var workIndex = 0
    /// By column position (nil: not mapped for this partition); an array, not a dictionary:
    /// a point query maps every column of one partition and reads one row.
    private var mapped: [MappedSource?] = []
    private var mappedPartition = -1
    /// Next row to read (forward) or end of the rows left (reverse) in the current work item.
    private var position: Int?
    private(set) var firstRow: Int64 = 0
    private var produced: Int64 = 0
    /// A `symbol = 'v'` / `symbol IN (…)` condition of the predicate served from postings.
    private var indexed: (column: Int, keys: [Int32])?
    private let postingsCache: SymbolPostingsCache?
    private var postings: SymbolPostings?

    /// Whether rows are filtered by a predicate inside the scan.
    var hasPredicate: Bool { predicate != nil }
    /// When set, batches carry only the predicate's columns and this one (a cheap key scan).
    var keyOnlyColumn: Int?
    /// Rows (within the current partition) of the last batch returned.
    private(set) var lastRows: [Int] = []
    /// The partition part the last batch came from.
    var lastPartition: TableSnapshot.Partition? { workIndex < work.count ? work[workIndex].partition : nil }

    enum MappedSource {
        case fixed(MappedColumn)
        case variable(VariableColumn)
    }

    /// `intervals`: sorted, non-overlapping µs ranges of the designated timestamp, or nil for all rows.
    convenience init(
        snapshot: TableSnapshot, needed: [Int], intervals: [Range<Int64>]?, predicate: BoundExpression? = nil,
        reverse: Bool = false, batchRows: Int = 4096, postings: SymbolPostingsCache? = nil
    ) throws(SQLError) {
        let work = try Self.plan(snapshot, intervals: intervals)
        self.init(
            snapshot: snapshot, needed: needed, work: reverse ? work.reversed() : work, predicate: predicate, reverse: reverse,
            batchRows: batchRows, postings: postings)
    }

    /// A scan over given row ranges (also one part of a split scan); `reverse` walks `work` as
    /// given (newest first) and each range backwards.
    init(
        snapshot: TableSnapshot, needed: [Int], work: [WorkItem], predicate: BoundExpression?, reverse: Bool = false,
        batchRows: Int, postings: SymbolPostingsCache? = nil
    ) {
        self.snapshot = snapshot
        self.postingsCache = postings
        var used = Set<Int>()
        predicate?.collectColumns(into: &used)
        self.predicateColumns = used.sorted()
        self.otherColumns = needed.filter { !used.contains($0) }
        self.predicate = predicate
        self.reverse = reverse
        self.batchRows = batchRows
        self.work = work
        if !reverse, postings != nil { indexed = Self.indexedCondition(predicate, snapshot) }
    }

    /// The first AND-ed `symbol = 'constant'` or `symbol IN ('a', …)` of the predicate, as keys.
    static func indexedCondition(_ predicate: BoundExpression?, _ snapshot: TableSnapshot) -> (column: Int, keys: [Int32])? {
        guard let predicate else { return nil }
        func keys(_ column: Int, _ values: [SQLValue]) -> (column: Int, keys: [Int32]) {
            let dictionary = snapshot.symbols[snapshot.schema.columns[column].id]
            let keys = values.compactMap { value -> Int32? in
                switch value {
                case .null: return -1
                case .text(let text): return dictionary?.keys[text]
                default: return nil
                }
            }
            return (column, Array(Set(keys)).sorted())
        }
        switch predicate {
        case .and(let l, let r):
            return indexedCondition(l, snapshot) ?? indexedCondition(r, snapshot)
        case .comparison(.equal, .column(let column, .symbol), .constant(let value, _)):
            return keys(column, [value])
        case .inList(.column(let column, .symbol), let values, negated: false):
            return keys(column, values)
        default:
            return nil
        }
    }

    typealias WorkItem = (partition: TableSnapshot.Partition, rows: Range<Int>)

    /// Row ranges per partition: partitions outside every interval are skipped unopened.
    static func plan(_ snapshot: TableSnapshot, intervals: [Range<Int64>]?) throws(SQLError) -> [WorkItem] {
        guard let intervals, let timestampID = snapshot.schema.designatedTimestamp else {
            return snapshot.partitions.filter { $0.rowCount > 0 }.map { ($0, 0..<$0.rowCount) }
        }
        var work: [WorkItem] = []
        for interval in intervals where !interval.isEmpty {
            for partition in snapshot.partitions(overlapping: interval.lowerBound, interval.upperBound) where partition.rowCount > 0 {
                let timestamps: MappedColumn
                do { timestamps = try snapshot.mapColumn(timestampID, in: partition) } catch { throw storageError(error) }
                let low = TableSnapshot.lowerBound(interval.lowerBound, in: timestamps)
                let high = interval.upperBound == Int64.max ? partition.rowCount : TableSnapshot.lowerBound(interval.upperBound, in: timestamps)
                if low < high { work.append((partition, low..<high)) }
            }
        }
        return work
    }

    /// `work` cut into `parts` consecutive pieces of about equal row counts (in row order, so
    /// first()/last() merge by piece order).
    static func split(_ work: [WorkItem], parts: Int) -> [[WorkItem]] {
        let total = work.reduce(0) { $0 + $1.rows.count }
        let share = (total + parts - 1) / max(parts, 1)
        var pieces: [[WorkItem]] = [[]]
        var filled = 0
        for item in work {
            var rows = item.rows
            while !rows.isEmpty {
                let room = share - filled
                let take = min(room, rows.count)
                pieces[pieces.count - 1].append((item.partition, rows.lowerBound..<(rows.lowerBound + take)))
                rows = (rows.lowerBound + take)..<rows.upperBound
                filled += take
                if filled >= share, pieces.count < parts {
                    pieces.append([])
                    filled = 0
                }
            }
        }
        return pieces.filter { !$0.isEmpty }
    }

    static func storageError(_ error: StorageError) -> SQLError {
        SQLError(.storage, "could not read table data: \(error)")
    }

    func next() throws(SQLError) -> ColumnBatch? {
        while workIndex < work.count {
            let (partition, rows) = work[workIndex]
            let range: Range<Int>
            if reverse {
                let end = position ?? rows.upperBound
                guard end > rows.lowerBound else {
                    advance()
                    continue
                }
                range = max(rows.lowerBound, end - batchRows)..<end
                position = range.lowerBound
            } else {
                let start = position ?? rows.lowerBound
                guard start < rows.upperBound else {
                    advance()
                    continue
                }
                // Postings make a range cost its matching rows only: take big ranges.
                range = start..<min(rows.upperBound, start + (indexed == nil ? batchRows : batchRows * 64))
                position = range.upperBound
            }
            if mappedPartition != workIndex { try map(partition) }
            firstRow = produced
            produced += Int64(range.count)
            if let batch = try read(range) { return batch }
        }
        return nil
    }

    private func advance() {
        workIndex += 1
        position = nil
    }

    /// The batch for `range`: predicate columns first; the rest only for passing rows.
    private func read(_ range: Range<Int>) throws(SQLError) -> ColumnBatch? {
        var columns = [ColumnVector](repeating: .boolean([]), count: snapshot.schema.columns.count)
        let otherColumns = keyOnlyColumn.map { key in self.otherColumns.filter { $0 == key } } ?? self.otherColumns
        if let indexed, let postings { return try readIndexed(range, indexed, postings, columns: &columns, otherColumns: otherColumns) }
        for index in predicateColumns { columns[index] = read(index, range) }
        guard let predicate else {
            for index in otherColumns { columns[index] = read(index, range) }
            lastRows = Array(range)
            return ColumnBatch(columns: columns, count: range.count)
        }
        let mask = try ExpressionEvaluator(batch: ColumnBatch(columns: columns, count: range.count), firstRow: firstRow)
            .evaluate(predicate).booleans
        var selected: [Int] = []
        for (offset, keep) in mask.enumerated() where keep { selected.append(range.lowerBound + offset) }
        if selected.isEmpty { return nil }
        lastRows = selected
        if selected.count == range.count {
            for index in otherColumns { columns[index] = read(index, range) }
            return ColumnBatch(columns: columns, count: range.count)
        }
        for index in predicateColumns { columns[index] = columns[index].filter(mask, selected: selected.count) }
        for index in otherColumns { columns[index] = read(index, selected) }
        return ColumnBatch(columns: columns, count: selected.count)
    }

    /// LATEST ON by a SYMBOL column from postings: for partitions newest first, the last row of
    /// each key not seen yet (NULL included, exactly), until every key has one. A predicate
    /// that names keys of that column (`key = 'a'`, `key IN (…)`) limits the keys looked for,
    /// and any other condition of it is checked on each key's rows newest first, a few at a
    /// time — the latest row of one host costs a handful of row reads, as an index lookup
    /// does in PostgreSQL. Nil when the scan has no postings cache, or its predicate does not
    /// name keys of `column` (the batch path handles those).
    ///
    /// With a `bound` it also gives up (nil) before building any partition's postings or
    /// visiting more partitions than the bound allows: a lookup that may run on an event loop.
    func latestPerKey(column: Int, keyCount: Int, bound: LookupBound? = nil) throws(SQLError) -> [ColumnBatch]? {
        guard reverse, let postingsCache else { return nil }
        // Slot k + 1 is key k, slot 0 NULL. Named keys are looked for alone, so the latest row
        // of one key costs the same with ten keys in the dictionary or a million.
        let slots: [Int]
        var filter = predicate
        if let predicate {
            guard let named = Self.indexedCondition(predicate, snapshot), named.column == column else { return nil }
            slots = named.keys.map { Int($0) + 1 }.filter { $0 <= keyCount }
            // The condition alone is what the postings answer: nothing left to check per row.
            if Self.isKeyCondition(predicate, column: column) { filter = nil }
        } else {
            slots = Array(0...keyCount)
        }
        var found = [Bool](repeating: false, count: slots.count)
        var missing = slots.count
        var batches: [ColumnBatch] = []
        for (index, item) in work.enumerated() where missing > 0 {
            if let bound, index >= bound.partitions { return nil }
            workIndex = index
            position = nil
            let postings: SymbolPostings
            if bound != nil {
                // Only postings already in memory, and the partition's columns mapped only when
                // a wanted key has rows in it: a key further back costs postings lookups alone.
                let columnID = snapshot.schema.columns[column].id
                guard let cached = postingsCache.cachedPostings(snapshot, item.partition, columnID: columnID) else { return nil }
                postings = cached
                let hasRows = slots.indices.contains { !found[$0] && !cached.rows(of: Int32(slots[$0] - 1), in: item.rows).isEmpty }
                guard hasRows else { continue }
                try map(item.partition)
            } else {
                try map(item.partition)
                guard case .fixed(let keys)? = mapped[column] else { return nil }
                postings = postingsCache.postings(snapshot, item.partition, columnID: snapshot.schema.columns[column].id, keys: keys)
            }
            var rows: [Int] = []
            for (index, slot) in slots.enumerated() where !found[index] {
                let candidates = postings.rows(of: Int32(slot - 1), in: item.rows)
                guard let row = try newest(candidates, passing: filter) else { continue }
                rows.append(row)
                found[index] = true
                missing -= 1
            }
            if !rows.isEmpty { batches.append(readRows(rows.sorted())) }
        }
        workIndex = work.count
        return batches
    }

    /// How far a bounded `latestPerKey` may go.
    struct LookupBound {
        var partitions: Int
    }

    /// Whether `predicate` is exactly one `column = constant` or `column IN (…)` condition.
    private static func isKeyCondition(_ predicate: BoundExpression, column: Int) -> Bool {
        switch predicate {
        case .comparison(.equal, .column(column, .symbol), .constant): true
        case .inList(.column(column, .symbol), _, negated: false): true
        default: false
        }
    }

    /// The last of `rows` (ascending) that passes `filter`, checked from the end in growing
    /// groups (8, 64, 512, …) so a key whose newest row passes reads one small group.
    private func newest(_ rows: ArraySlice<Int32>, passing filter: BoundExpression?) throws(SQLError) -> Int? {
        guard let filter else { return rows.last.map(Int.init) }
        var end = rows.endIndex
        var group = 8
        while end > rows.startIndex {
            let start = max(rows.startIndex, end - group)
            let candidates = rows[start..<end].map(Int.init)
            var columns = [ColumnVector](repeating: .boolean([]), count: snapshot.schema.columns.count)
            for index in predicateColumns { columns[index] = read(index, candidates) }
            let mask = try ExpressionEvaluator(batch: ColumnBatch(columns: columns, count: candidates.count), firstRow: firstRow)
                .evaluate(filter).booleans
            if let last = mask.lastIndex(of: true) { return candidates[last] }
            end = start
            group = min(group * 8, 1 << 16)
        }
        return nil
    }

    /// The newest row with a NULL (−1) key in SYMBOL column `column` among the rows not yet
    /// scanned (backward scans without a predicate): raw memory is searched without building
    /// batches. Returns that row's batch, or nil when there is none.
    func newestNullSymbolRow(column: Int) throws(SQLError) -> ColumnBatch? {
        precondition(reverse && predicate == nil, "only for backward scans without a predicate")
        while workIndex < work.count {
            let (partition, rows) = work[workIndex]
            let end = position ?? rows.upperBound
            if mappedPartition != workIndex { try map(partition) }
            guard case .fixed(let data)? = mapped[column] else { return nil }
            let found: Int? = data.withUnsafeBytes { bytes in
                var row = end - 1
                while row >= rows.lowerBound {
                    if bytes.loadUnaligned(fromByteOffset: row * 4, as: Int32.self) == -1 { return row }
                    row -= 1
                }
                return nil
            }
            if let found { return readRows([found]) }
            advance()
        }
        return nil
    }

    /// The rows of the indexed keys in `range`, then the rest of the predicate on those rows
    /// only, then the other columns for the rows that pass.
    private func readIndexed(
        _ range: Range<Int>, _ indexed: (column: Int, keys: [Int32]), _ postings: SymbolPostings, columns: inout [ColumnVector],
        otherColumns: [Int]
    ) throws(SQLError) -> ColumnBatch? {
        var candidates: [Int] = []
        for key in indexed.keys { candidates.append(contentsOf: postings.rows(of: key, in: range).lazy.map { Int($0) }) }
        if candidates.isEmpty { return nil }
        if indexed.keys.count > 1 { candidates.sort() }
        for index in predicateColumns { columns[index] = read(index, candidates) }
        var selected = candidates
        if let predicate {
            let mask = try ExpressionEvaluator(batch: ColumnBatch(columns: columns, count: candidates.count), firstRow: firstRow)
                .evaluate(predicate).booleans
            let passing = mask.reduce(0) { $0 + ($1 ? 1 : 0) }
            if passing == 0 { return nil }
            if passing < candidates.count {
                selected = zip(candidates, mask).filter(\.1).map(\.0)
                for index in predicateColumns { columns[index] = columns[index].filter(mask, selected: passing) }
            }
        }
        lastRows = selected
        for index in otherColumns { columns[index] = read(index, selected) }
        return ColumnBatch(columns: columns, count: selected.count)
    }

    /// Every column the query reads, at `rows` of the partition of the last batch.
    func readRows(_ rows: [Int]) -> ColumnBatch {
        var columns = [ColumnVector](repeating: .boolean([]), count: snapshot.schema.columns.count)
        for index in predicateColumns + otherColumns { columns[index] = read(index, rows) }
        return ColumnBatch(columns: columns, count: rows.count)
    }

    private func map(_ partition: TableSnapshot.Partition) throws(SQLError) {
        let columnCount = snapshot.schema.columns.count
        if mapped.count == columnCount {
            for index in mapped.indices { mapped[index] = nil }
        } else {
            mapped = [MappedSource?](repeating: nil, count: columnCount)
        }
        func mapEach(_ columns: [Int]) throws(StorageError) {
            for index in columns {
                let column = snapshot.schema.columns[index]
                mapped[index] = column.type.isVariableSize
                    ? .variable(try snapshot.mapVariableColumn(column, in: partition))
                    : .fixed(try snapshot.mapColumn(column, in: partition))
            }
        }
        do {
            try mapEach(predicateColumns)
            try mapEach(otherColumns)
        } catch {
            throw Self.storageError(error)
        }
        mappedPartition = workIndex
        postings = nil
        if let indexed, let postingsCache, case .fixed(let keys)? = mapped[indexed.column] {
            postings = postingsCache.postings(snapshot, partition, columnID: snapshot.schema.columns[indexed.column].id, keys: keys)
        }
    }

    private func read<R: Collection<Int>>(_ index: Int, _ rows: R) -> ColumnVector {
        let column = snapshot.schema.columns[index]
        switch mapped[index]! {
        case .fixed(let data):
            return data.withUnsafeBytes { bytes in
                ColumnReader.fixed(bytes, type: column.type, rows: rows, symbols: snapshot.symbols[column.id])
            }
        case .variable(let data):
            return ColumnReader.variable(data, type: column.type, rows: rows)
        }
    }
}

/// Turns stored column bytes into vectors (widening to the vector representation).
enum ColumnReader {
    static func fixed<R: Collection<Int>>(_ bytes: UnsafeRawBufferPointer, type: ColumnType, rows: R, symbols: SymbolTable?) -> ColumnVector {
        func load<T: FixedWidthInteger>(_: T.Type, _ transform: (T) -> Int64) -> [Int64] {
            let width = MemoryLayout<T>.size
            var out = [Int64](repeating: 0, count: rows.count)
            out.withUnsafeMutableBufferPointer { target in
                var i = 0
                for row in rows {
                    target[i] = transform(T(littleEndian: bytes.loadUnaligned(fromByteOffset: row * width, as: T.self)))
                    i += 1
                }
            }
            return out
        }
        switch type {
        case .boolean:
            return .boolean(rows.map { bytes[$0] != 0 })
        case .byte: return .integer(load(Int8.self) { Int64($0) })
        case .short: return .integer(load(Int16.self) { Int64($0) })
        case .char: return .integer(load(UInt16.self) { Int64($0) })
        case .int: return .integer(load(Int32.self) { $0 == Int32.min ? Int64.min : Int64($0) })
        case .ipv4: return .integer(load(UInt32.self) { Int64($0) })
        case .decimal where type.isWideDecimal:
            let width = type.fixedWidthBytes!
            return .wide(rows.map { Int256.load(from: bytes.baseAddress! + $0 * width, width: width) })
        case .long, .date, .timestamp, .timestampNanos, .decimal: return .integer(load(Int64.self) { $0 })
        case .geohash:
            switch type.fixedWidthBytes! {
            case 1: return .integer(load(Int8.self) { Int64($0) })
            case 2: return .integer(load(Int16.self) { Int64($0) })
            case 4: return .integer(load(Int32.self) { Int64($0) })
            default: return .integer(load(Int64.self) { $0 })
            }
        case .float:
            return .real(rows.map { Double(Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))) })
        case .double:
            var out = [Double](repeating: 0, count: rows.count)
            out.withUnsafeMutableBufferPointer { target in
                var i = 0
                for row in rows {
                    target[i] = Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: row * 8, as: UInt64.self)))
                    i += 1
                }
            }
            return .real(out)
        case .symbol:
            let keys = rows.map { Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
            return .symbol(keys, symbols ?? SymbolTable.empty)
        case .uuid:
            return .text(rows.map { row in
                let low = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: row * 16, as: UInt64.self))
                let high = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: row * 16 + 8, as: UInt64.self))
                if low == UInt64(bitPattern: Int64.min) && high == UInt64(bitPattern: Int64.min) { return nil }
                return uuidText(high: high, low: low)
            })
        case .long256:
            return .text(rows.map { row in
                var words: [UInt64] = []
                for w in 0..<4 { words.append(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: row * 32 + w * 8, as: UInt64.self))) }
                if words.allSatisfy({ $0 == UInt64(bitPattern: Int64.min) }) { return nil }
                var hex = ""
                for word in words.reversed() {
                    let digits = String(word, radix: 16)
                    hex += hex.isEmpty ? digits : String(repeating: "0", count: 16 - digits.count) + digits
                }
                return "0x" + (hex.drop { $0 == "0" }.isEmpty ? "0" : String(hex.drop { $0 == "0" }))
            })
        case .varchar, .string, .binary, .doubleArray:
            return .text([])
        }
    }

    static func uuidText(high: UInt64, low: UInt64) -> String {
        func hex(_ value: UInt64, _ digits: Int) -> String {
            let text = String(value, radix: 16)
            return String(repeating: "0", count: digits - text.count) + text
        }
        let h = hex(high, 16), l = hex(low, 16)
        return "\(h.prefix(8))-\(h.dropFirst(8).prefix(4))-\(h.dropFirst(12))-\(l.prefix(4))-\(l.dropFirst(4))"
    }

    static func variable<R: Collection<Int>>(_ column: VariableColumn, type: ColumnType, rows: R) -> ColumnVector {
        switch type {
        case .doubleArray(let dimensions):
            return .text(rows.map { row in
                column.withValue(row: row) { bytes -> String? in
                    guard let bytes, let (shape, values) = DoubleArrayValue.decode(bytes, dimensions: dimensions) else { return nil }
                    return ArrayText.json(shape: shape, values: values)
                }
            })
        case .binary:
            return .text(rows.map { row in column.withValue(row: row) { $0 == nil ? nil : "" } })
        default:
            return .text(rows.map { row in column.withValue(row: row) { $0.map { String(decoding: $0, as: UTF8.self) } } })
        }
    }
}

/// DOUBLE[] values as nested JSON arrays (`[[1.0,2.0],[3.0,4.0]]`), which `/exec` sends and
/// casts to text show.
enum ArrayText {
    static func json(shape: [Int], values: [Double]) -> String {
        var text = ""
        var index = 0
        func emit(_ dimension: Int) {
            text += "["
            for element in 0..<(shape.isEmpty ? 0 : shape[dimension]) {
                if element > 0 { text += "," }
                if dimension == shape.count - 1 {
                    let value = values[index]
                    index += 1
                    text += value.isNaN ? "null" : JavaDoubleText.format(value)
                } else {
                    emit(dimension + 1)
                }
            }
            text += "]"
        }
        emit(0)
        return text
    }
}

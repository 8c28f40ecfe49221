import Storage

/// Whole-result operations: sorting, DISTINCT, EXCEPT/INTERSECT membership.
enum RowOperations {
    struct SortKey {
        var column: Int
        var descending: Bool
    }

    /// Typed sort keys, so comparisons switch once per key, not per value kind.
    private enum KeyValues {
        case integer([Int64])
        case real([Double])
        case text([String?])
        case boolean([Bool])
        /// Wide decimals: NULL (`Int256.min`) sorts first, as integers' does.
        case wide([Int256])
    }

    /// Rows ordered by `keys` (stable: ties keep their order). NULLs sort first ascending.
    static func sort(_ result: QueryResult, _ keys: [SortKey]) throws(SQLError) -> QueryResult {
        guard result.rowCount > 1, !keys.isEmpty else { return result }
        let values: [(KeyValues, Bool)] = keys.map { key in
            let vector = result.batch.columns[key.column]
            let type = result.columns[key.column].type
            let typed: KeyValues =
                switch vector {
                case .integer(let v): .integer(v)
                case .real(let v): .real(v)
                case .boolean(let v): .boolean(v)
                case .symbol, .text: .text(vector.asText(type))
                case .wide(let v): .wide(v)
                }
            return (typed, key.descending)
        }
        var indices = Array(0..<result.rowCount)
        indices.sort { a, b in
            for (typed, descending) in values {
                let order: Int
                switch typed {
                case .integer(let v): order = v[a] == v[b] ? 0 : v[a] < v[b] ? -1 : 1
                case .real(let v):
                    let x = v[a], y = v[b]
                    order = x == y || (x.isNaN && y.isNaN) ? 0 : (x.isNaN || x < y) ? -1 : 1
                case .boolean(let v): order = v[a] == v[b] ? 0 : !v[a] ? -1 : 1
                case .wide(let v): order = v[a] == v[b] ? 0 : v[a] < v[b] ? -1 : 1
                case .text(let v):
                    switch (v[a], v[b]) {
                    case (nil, nil): order = 0
                    case (nil, _): order = -1
                    case (_, nil): order = 1
                    case (let x?, let y?): order = x == y ? 0 : x < y ? -1 : 1
                    }
                }
                if order != 0 { return descending ? order > 0 : order < 0 }
            }
            return a < b
        }
        var sorted = result
        sorted.batch = result.batch.gather(indices)
        return sorted
    }

    /// Key atoms of every row of `result`, one array per column.
    private static func atoms(_ result: QueryResult, _ atomizers: inout [KeyAtomizer]) -> [[Int64]] {
        result.batch.columns.indices.map { column in
            let vector = result.batch.columns[column]
            if case .symbol = vector { return atomizers[column].atoms(.text(vector.asText)) }
            return atomizers[column].atoms(vector)
        }
    }

    /// The first occurrence of each distinct row.
    static func distinct(_ result: QueryResult) -> QueryResult {
        var atomizers = result.columns.map { KeyAtomizer(type: $0.type) }
        var table = GroupTable(width: result.columns.count)
        let groups = table.groups(atoms(result, &atomizers), rows: result.rowCount)
        var next: Int32 = 0
        var keep: [Int] = []
        for (row, group) in groups.enumerated() where group == next {
            keep.append(row)
            next += 1
        }
        if result.columns.isEmpty { keep = result.rowCount > 0 ? [0] : [] }
        var out = result
        out.batch = result.batch.gather(keep)
        return out
    }

    /// Rows of `left` that are (`keep` true) or are not (false) in `right`.
    static func membership(_ left: QueryResult, _ right: QueryResult, keep: Bool) -> QueryResult {
        var atomizers = left.columns.map { KeyAtomizer(type: $0.type) }
        var table = GroupTable(width: left.columns.count)
        // Right rows first: their groups are the ids below `rightCount`.
        _ = table.groups(atoms(right, &atomizers), rows: right.rowCount)
        let rightCount = Int32(table.count)
        let leftGroups = table.groups(atoms(left, &atomizers), rows: left.rowCount)
        let rows = leftGroups.enumerated().filter { ($0.element < rightCount) == keep }.map(\.offset)
        var out = left
        out.batch = left.batch.gather(rows)
        return out
    }
}

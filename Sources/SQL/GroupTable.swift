import Storage

/// Open-addressing hash table from fixed-width tuples of 64-bit key atoms to dense group ids
/// (0, 1, 2, … in order of first appearance). Keys live in one flat array; looking up a row
/// allocates nothing.
struct GroupTable {
    let width: Int
    private(set) var keys: [Int64] = []
    private var slots: [Int32]
    private var mask: Int
    private(set) var count = 0

    init(width: Int, capacity: Int = 1024) {
        self.width = width
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: -1, count: size)
        mask = size - 1
    }

    /// Direct maps for keys whose last atom is small (symbol keys, small integers): per value of
    /// the leading atoms (none for one-column keys), an array from the small atom to group id.
    private var dense: [Int64: [Int32]] = [:]
    static let denseLimit: Int64 = 1 << 16
    static let maxDenseMaps = 4096

    /// Group ids for each row of `atoms` (one array per key column, all of `rows` length).
    ///
    /// Fast paths: rows whose key equals the previous row's reuse its group (time buckets over
    /// time-ordered data), and a small last atom indexes a direct map instead of hashing.
    mutating func groups(_ atoms: [[Int64]], rows: Int) -> [Int32] {
        var out = [Int32](repeating: 0, count: rows)
        if width == 0 {
            if count == 0 { count = 1 }
            return out
        }
        if width <= 2 {
            groupsDense(atoms, rows: rows, into: &out)
            return out
        }
        for row in 0..<rows {
            out[row] = group(atoms, row)
        }
        return out
    }

    /// One or two key columns: the leading atom (if any) selects a direct map over the last one
    /// when that is small; otherwise the hash table.
    private mutating func groupsDense(_ atoms: [[Int64]], rows: Int, into out: inout [Int32]) {
        let last = atoms[width - 1]
        let leading: [Int64]? = width == 2 ? atoms[0] : nil
        var currentLead = Int64.min
        var map: [Int32] = []
        var haveMap = false
        var previousRow = -1
        for row in 0..<rows {
            let small = last[row]
            let lead = leading?[row] ?? 0
            if previousRow >= 0, last[previousRow] == small, (leading?[previousRow] ?? 0) == lead {
                out[row] = out[previousRow]
                continue
            }
            previousRow = row
            guard small >= -1, small < Self.denseLimit else {
                out[row] = group(atoms, row)
                continue
            }
            if !haveMap || lead != currentLead {
                // Bounded: past this many leading values the hash table serves the rest.
                if dense[lead] == nil, dense.count + (haveMap ? 1 : 0) >= Self.maxDenseMaps {
                    out[row] = group(atoms, row)
                    continue
                }
                if haveMap { dense[currentLead] = map }
                currentLead = lead
                map = dense.removeValue(forKey: lead) ?? []
                haveMap = true
            }
            let slot = Int(small + 1)
            if slot >= map.count { map.append(contentsOf: repeatElement(-1, count: slot + 1 - map.count)) }
            var id = map[slot]
            if id < 0 {
                id = group(atoms, row)
                map[slot] = id
            }
            out[row] = id
        }
        if haveMap { dense[currentLead] = map }
    }

    private mutating func group(_ atoms: [[Int64]], _ row: Int) -> Int32 {
        var hash: UInt64 = 0x9E37_79B9_7F4A_7C15
        for column in 0..<width {
            hash = (hash ^ UInt64(bitPattern: atoms[column][row])) &* 0xBF58_476D_1CE4_E5B9
            hash ^= hash >> 31
        }
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let id = slots[slot]
            if id < 0 {
                if (count + 1) * 2 > slots.count {
                    grow()
                    return group(atoms, row)
                }
                slots[slot] = Int32(count)
                for column in 0..<width { keys.append(atoms[column][row]) }
                count += 1
                return Int32(count - 1)
            }
            var equal = true
            let base = Int(id) * width
            for column in 0..<width where keys[base + column] != atoms[column][row] {
                equal = false
                break
            }
            if equal { return id }
            slot = (slot + 1) & mask
        }
    }

    private mutating func grow() {
        let size = slots.count * 2
        slots = Array(repeating: -1, count: size)
        mask = size - 1
        for id in 0..<count {
            var hash: UInt64 = 0x9E37_79B9_7F4A_7C15
            for column in 0..<width {
                hash = (hash ^ UInt64(bitPattern: keys[id * width + column])) &* 0xBF58_476D_1CE4_E5B9
                hash ^= hash >> 31
            }
            var slot = Int(truncatingIfNeeded: hash) & mask
            while slots[slot] >= 0 { slot = (slot + 1) & mask }
            slots[slot] = Int32(id)
        }
    }

    /// Atom `column` of every group, in group order.
    func atoms(column: Int) -> [Int64] {
        stride(from: column, to: keys.count, by: width).map { keys[$0] }
    }
}

/// Turns key vectors into 64-bit atoms and back: numbers as themselves, doubles by bit
/// pattern, symbols by key, text through a per-query intern table.
struct KeyAtomizer {
    let type: SQLType
    private var interned: [String: Int64] = [:]
    private var strings: [String] = []
    /// Wide decimals (NULL included) interned like text.
    private var internedWide: [Int256: Int64] = [:]
    private var wides: [Int256] = []
    private(set) var symbolTable: SymbolTable?

    init(type: SQLType) { self.type = type }

    mutating func atoms(_ vector: ColumnVector) -> [Int64] {
        switch vector {
        case .integer(let values): return values
        case .boolean(let values): return values.map { $0 ? 1 : 0 }
        case .real(let values):
            return values.map { $0.isNaN ? Int64.min : Int64(bitPattern: ($0 == 0 ? 0.0 : $0).bitPattern) }
        case .symbol(let keys, let table):
            if symbolTable == nil || symbolTable!.values.count < table.values.count { symbolTable = table }
            return keys.map { Int64($0) }
        case .text(let values):
            return values.map { value in
                guard let value else { return -1 }
                if let id = interned[value] { return id }
                let id = Int64(strings.count)
                strings.append(value)
                interned[value] = id
                return id
            }
        case .wide(let values):
            return values.map { value in
                // NULL keeps the numbers' NULL atom, so joins see it as NULL.
                if value == .min { return Int64.min }
                if let id = internedWide[value] { return id }
                let id = Int64(wides.count)
                wides.append(value)
                internedWide[value] = id
                return id
            }
        }
    }

    /// The vector for `atoms` (group keys), in the representation they came from.
    func vector(_ atoms: [Int64], from sample: ColumnVector?) -> ColumnVector {
        switch sample {
        case .symbol?: return .symbol(atoms.map { Int32(truncatingIfNeeded: $0) }, symbolTable ?? SymbolTable.empty)
        case .text?: return .text(atoms.map { $0 < 0 ? nil : strings[Int($0)] })
        case .real?: return .real(atoms.map { $0 == Int64.min ? .nan : Double(bitPattern: UInt64(bitPattern: $0)) })
        case .boolean?: return .boolean(atoms.map { $0 != 0 })
        case .wide?: return .wide(atoms.map { $0 == Int64.min ? .min : wides[Int($0)] })
        case .integer?, nil: return .integer(atoms)
        }
    }
}

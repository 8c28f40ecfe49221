import Storage
import Synchronization

/// The columns an expression may name: the output of a table scan, a subquery or an
/// aggregation, with the table alias that qualifies them.
struct Scope: Sendable {
    struct Column: Sendable {
        var name: String
        var qualifier: String?
        var type: SQLType
    }

    var columns: [Column] { didSet { byName = ScopeNames(columns) } }
    /// Index of the designated timestamp among `columns`.
    var timestampIndex: Int?
    /// Column positions by lower-cased name: a reference is one lookup, not a pass over all
    /// columns (`SELECT *` binds every column of the scope).
    private var byName: ScopeNames

    init(columns: [Column], timestampIndex: Int?) {
        self.columns = columns
        self.timestampIndex = timestampIndex
        byName = ScopeNames(columns)
    }

    /// A table's scope, its name index shared by every query on that schema version (built
    /// once, not per statement: a point query binds all 21 columns of a TSBS row).
    init(table snapshot: TableSnapshot, qualifier: String?) {
        let schema = snapshot.schema
        columns = schema.columns.map { Column(name: $0.name, qualifier: qualifier, type: .column($0.type)) }
        timestampIndex = schema.designatedTimestamp.flatMap { id in schema.columns.firstIndex { $0.id == id } }
        byName = ScopeNames.of(snapshot, columns)
    }

    /// The position of the column `name` (case-insensitive), checking the qualifier when given.
    func resolve(_ qualifier: String?, _ name: String, at position: Int) throws(SQLError) -> Int {
        var found: Int?
        for index in byName.positions[ASCIICase.lowercased(name)] ?? [] {
            let column = columns[index]
            if let qualifier, !(column.qualifier.map { Self.sameName($0, qualifier) } ?? false) { continue }
            if found != nil { throw SQLError(.undefinedColumn, "Ambiguous column [name=\(name)]", at: position) }
            found = index
        }
        guard let found else {
            let full = qualifier.map { "\($0).\(name)" } ?? name
            throw SQLError(.undefinedColumn, "Invalid column: \(full)", at: position)
        }
        return found
    }
}

extension Scope {
    /// Case-insensitive name equality without allocating (names are matched per column per
    /// reference, so `lowercased()` here showed up in point-query profiles).
    static func sameName(_ a: String, _ b: String) -> Bool {
        var left = a.utf8.makeIterator(), right = b.utf8.makeIterator()
        while true {
            switch (left.next(), right.next()) {
            case (nil, nil): return true
            case (let x?, let y?):
                if x == y { continue }
                if x >= 0x80 || y >= 0x80 { return a.lowercased() == b.lowercased() }
                if x | 0x20 != y | 0x20 || !((x | 0x20) >= 0x61 && (x | 0x20) <= 0x7A) { return false }
            default: return false
            }
        }
    }
}

/// What binding needs besides the scope: the statement's clock, bind parameters and a way to
/// run uncorrelated subqueries.
struct BindingContext {
    /// `now()` for the whole statement, µs.
    var now: Int64
    var parameters: [SQLValue] = []
    /// The session's user (`current_user`) and whether the node refuses writes (`pg_is_in_recovery()`).
    var user = "admin"
    var readOnly = false
    /// Declared types of the parameters (from the client, or inferred when it was described);
    /// nil entries take the value's own type.
    var parameterTypes: [SQLType?] = []
    /// Set while describing a statement without values: parameters bind as typed NULLs and
    /// take the type of what they are compared with, assigned to or cast to.
    var inference: ParameterInference?
    /// The OID of a relation by name (`'t'::regclass`), nil when there is none.
    var relationOID: ((String) -> Int64?)?
    var runSubquery: ((SQLQuery, Int) throws(SQLError) -> QueryResult)?
    /// Runs a subquery with the enclosing row's columns visible as constants.
    var runCorrelated: ((SQLQuery, [Scope.Column], [SQLValue]) throws(SQLError) -> QueryResult)?
    /// Columns of the enclosing rows of a correlated subquery, with this row's values.
    var outer: [(Scope.Column, SQLValue)] = []
}

/// The types bind parameters get from their context while a statement is described
/// (`WHERE price > $1` makes `$1` a DOUBLE when `price` is one). First use wins.
final class ParameterInference: @unchecked Sendable {  // used by one statement's thread at a time
    private(set) var types: [Int: SQLType] = [:]
    private(set) var highest = 0

    /// `expression` is used where a `type` is expected: a parameter without a type takes it.
    func note(_ expression: SQLExpression, as type: SQLType) {
        guard case .parameter(let number) = expression.kind, type != .null, types[number] == nil else { return }
        types[number] = type
    }

    func used(_ number: Int) { highest = max(highest, number) }
}

/// Column positions by lower-cased name, shared between copies of a scope.
final class ScopeNames: Sendable {
    let positions: [String: [Int]]

    init(_ columns: [Scope.Column]) {
        var names: [String: [Int]] = [:]
        names.reserveCapacity(columns.count)
        for (position, column) in columns.enumerated() { names[ASCIICase.lowercased(column.name), default: []].append(position) }
        positions = names
    }

    private struct SchemaKey: Hashable {
        var directory: String
        var tableID: UInt32
        var version: UInt64
    }

    /// Indexes of table schemas by table directory, id and schema version (a version never
    /// changes its columns; the directory tells apart engines of one process).
    private static let tables = PlainMutex<[SchemaKey: ScopeNames]>([:])

    static func of(_ snapshot: TableSnapshot, _ columns: [Scope.Column]) -> ScopeNames {
        let key = SchemaKey(directory: snapshot.directory, tableID: snapshot.schema.tableID, version: snapshot.schema.version)
        if let known = tables.withLock({ $0[key] }) { return known }
        let names = ScopeNames(columns)
        tables.withLock { tables in
            if tables.count >= 4096 { tables.removeAll(keepingCapacity: true) }
            tables[key] = names
        }
        return names
    }
}

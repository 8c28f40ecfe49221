import Storage

extension SQLExpression {
    /// Whether an aggregate function is called anywhere in the expression (window calls such
    /// as `sum(x) OVER (…)` are not aggregates).
    var containsAggregate: Bool {
        var found = false
        visitOutsideWindows { if case .function(let name, _, _) = $0.kind, AggregateKind.isAggregate(name) { found = true } }
        return found
    }

    /// Whether a window call's arguments, PARTITION BY or ORDER BY aggregate (`lag(sum(v)) OVER …`).
    var aggregatesInWindows: Bool {
        var found = false
        visit { node in
            if case .window = node.kind, node.children.contains(where: \.containsAggregate) { found = true }
        }
        return found
    }

    /// The expression's AND-ed parts (`a AND (b AND c)` → a, b, c).
    var conjuncts: [SQLExpression] {
        if case .binary(let op, let left, let right) = kind, op == "and" { return left.conjuncts + right.conjuncts }
        return [self]
    }

    /// Whether a filter may be checked early, on one input of a join, besides where it is
    /// written: no subquery (it would run twice), no aggregate or window.
    var isPushable: Bool {
        var pushable = true
        visit { node in
            switch node.kind {
            case .subquery, .window, .parameter: pushable = false
            case .function(let name, _, _) where AggregateKind.isAggregate(name): pushable = false
            default: break
            }
        }
        return pushable
    }

    /// Whether a window function is called anywhere in the expression.
    var containsWindow: Bool {
        var found = false
        visit { if case .window = $0.kind { found = true } }
        return found
    }

    private func visitOutsideWindows(_ body: (SQLExpression) -> Void) {
        body(self)
        if case .window = kind { return }
        for child in children { child.visitOutsideWindows(body) }
    }

    /// Calls `body` for this node and every node below it (not into subqueries).
    func visit(_ body: (SQLExpression) -> Void) {
        body(self)
        for child in children { child.visit(body) }
    }

    var children: [SQLExpression] {
        switch kind {
        case .column, .star, .null, .boolean, .integer, .decimal, .string, .parameter, .subquery: []
        case .unary(_, let e), .cast(let e, _), .isNull(let e, _): [e]
        case .binary(_, let l, let r), .like(let l, let r, _, _): [l, r]
        case .function(_, let arguments, _): arguments
        case .window(_, let arguments, let spec): arguments + spec.partitionBy + spec.orderBy.map(\.expression)
        case .inList(let e, let list, _): [e] + list
        case .between(let e, let l, let h, _): [e, l, h]
        case .caseWhen(let operand, let branches, let otherwise):
            (operand.map { [$0] } ?? []) + branches.flatMap { [$0.0, $0.1] } + (otherwise.map { [$0] } ?? [])
        }
    }

    /// A canonical text of the expression, used to match GROUP BY keys and repeated aggregates.
    var canonical: String {
        switch kind {
        case .column(let qualifier, let name): return (qualifier.map { $0.lowercased() + "." } ?? "") + name.lowercased()
        case .star(let qualifier): return (qualifier.map { $0 + "." } ?? "") + "*"
        case .null: return "null"
        case .boolean(let value): return value ? "true" : "false"
        case .integer(let text), .decimal(let text): return text
        case .string(let text): return "'" + text + "'"
        case .parameter(let number): return "$\(number)"
        case .unary(let op, let e): return "(\(op) \(e.canonical))"
        case .binary(let op, let l, let r): return "(\(l.canonical) \(op) \(r.canonical))"
        case .function(let name, let arguments, let distinct):
            return name + "(" + (distinct ? "distinct " : "") + arguments.map(\.canonical).joined(separator: ",") + ")"
        case .cast(let e, let type): return "cast(\(e.canonical) as \(type.name)\(type.parameter ?? ""))"
        case .isNull(let e, let negated): return "(\(e.canonical) is \(negated ? "not " : "")null)"
        case .inList(let e, let list, let negated):
            return "(\(e.canonical) \(negated ? "not " : "")in (\(list.map(\.canonical).joined(separator: ","))))"
        case .between(let e, let l, let h, let negated):
            return "(\(e.canonical) \(negated ? "not " : "")between \(l.canonical) and \(h.canonical))"
        case .like(let e, let p, let insensitive, let negated):
            return "(\(e.canonical) \(negated ? "not " : "")\(insensitive ? "ilike" : "like") \(p.canonical))"
        case .caseWhen(let operand, let branches, let otherwise):
            return "case \(operand?.canonical ?? "") " + branches.map { "when \($0.0.canonical) then \($0.1.canonical)" }.joined(separator: " ")
                + " else \(otherwise?.canonical ?? "null") end"
        case .subquery: return "(subquery@\(position))"
        case .window(let name, let arguments, let spec):
            return name + "(" + arguments.map(\.canonical).joined(separator: ",") + ")" + (spec.ignoreNulls ? " ignore nulls" : "")
                + " over (partition by " + spec.partitionBy.map(\.canonical).joined(separator: ",") + " order by "
                + spec.orderBy.map { $0.expression.canonical + ($0.descending ? " desc" : "") }.joined(separator: ",")
                + " \(String(describing: spec.frame)))"
        }
    }

    /// The expression with every node for which `replace` returns a value swapped for it
    /// (children of a replaced node are not visited).
    func rewritten(_ replace: (SQLExpression) -> SQLExpression?) -> SQLExpression {
        if let replacement = replace(self) { return replacement }
        func r(_ e: SQLExpression) -> SQLExpression { e.rewritten(replace) }
        let newKind: Kind
        switch kind {
        case .column, .star, .null, .boolean, .integer, .decimal, .string, .parameter, .subquery, .window: return self
        case .unary(let op, let e): newKind = .unary(op, r(e))
        case .cast(let e, let type): newKind = .cast(r(e), type)
        case .isNull(let e, let negated): newKind = .isNull(r(e), negated: negated)
        case .binary(let op, let a, let b): newKind = .binary(op, r(a), r(b))
        case .like(let a, let b, let insensitive, let negated): newKind = .like(r(a), r(b), caseInsensitive: insensitive, negated: negated)
        case .function(let name, let arguments, let distinct): newKind = .function(name: name, arguments: arguments.map(r), distinct: distinct)
        case .inList(let e, let list, let negated): newKind = .inList(r(e), list.map(r), negated: negated)
        case .between(let e, let l, let h, let negated): newKind = .between(r(e), r(l), r(h), negated: negated)
        case .caseWhen(let operand, let branches, let otherwise):
            newKind = .caseWhen(operand: operand.map(r), branches: branches.map { (r($0.0), r($0.1)) }, otherwise: otherwise.map(r))
        }
        return SQLExpression(newKind, at: position)
    }

    /// The default output column name QuestDB gives an unaliased select item.
    var defaultName: String {
        switch kind {
        case .column(_, let name): name
        case .function(let name, _, _), .window(let name, _, _): name
        case .cast: "cast"
        case .integer(let text), .decimal(let text): text
        case .string(let text): text
        case .boolean(let value): value ? "true" : "false"
        case .null: "null"
        default: "column"
        }
    }
}

extension BoundExpression {
    /// Whether a regular expression is evaluated anywhere (such expressions stay on one thread).
    var usesRegex: Bool {
        switch self {
        case .regex, .correlated: return true  // per-row subqueries also stay on one thread
        case .column, .constant: return false
        case .negate(let e, _), .not(let e), .isNull(let e, _), .inList(let e, _, _), .inIntervals(let e, _, _),
             .like(let e, _, _), .cast(let e, _, _):
            return e.usesRegex
        case .arithmetic(_, let l, let r, _), .concat(let l, let r), .comparison(_, let l, let r), .and(let l, let r),
             .or(let l, let r):
            return l.usesRegex || r.usesRegex
        case .caseWhen(let branches, let otherwise, _):
            return otherwise.usesRegex || branches.contains { $0.0.usesRegex || $0.1.usesRegex }
        case .function(_, let arguments, _):
            return arguments.contains(where: \.usesRegex)
        }
    }

    /// Column positions the expression reads.
    func collectColumns(into columns: inout Set<Int>) {
        switch self {
        case .column(let index, _): columns.insert(index)
        case .constant: break
        case .negate(let e, _), .not(let e), .isNull(let e, _), .inList(let e, _, _), .inIntervals(let e, _, _),
             .like(let e, _, _), .regex(let e, _, _), .cast(let e, _, _):
            e.collectColumns(into: &columns)
        case .arithmetic(_, let l, let r, _), .concat(let l, let r), .comparison(_, let l, let r), .and(let l, let r),
             .or(let l, let r):
            l.collectColumns(into: &columns)
            r.collectColumns(into: &columns)
        case .caseWhen(let branches, let otherwise, _):
            for (condition, value) in branches {
                condition.collectColumns(into: &columns)
                value.collectColumns(into: &columns)
            }
            otherwise.collectColumns(into: &columns)
        case .function(_, let arguments, _):
            for argument in arguments { argument.collectColumns(into: &columns) }
        case .correlated(let subquery, _):
            for (index, _) in subquery.inputs { columns.insert(index) }
        }
    }

    /// µs ranges of column `timestampIndex` outside which the predicate is certainly false
    /// (nil: no restriction found). Reads the AND-ed comparisons with constants.
    func timestampIntervals(_ timestampIndex: Int) -> [Range<Int64>]? {
        switch self {
        case .and(let l, let r):
            switch (l.timestampIntervals(timestampIndex), r.timestampIntervals(timestampIndex)) {
            case (nil, nil): return nil
            case (let a?, nil): return a
            case (nil, let b?): return b
            case (let a?, let b?): return Self.intersect(a, b)
            }
        case .inIntervals(.column(let index, _), let ranges, negated: false) where index == timestampIndex:
            return Self.normalize(ranges)
        case .comparison(let op, .column(let index, _), .constant(.integer(let value), _)) where index == timestampIndex:
            return Self.range(op, value)
        case .comparison(let op, .constant(.integer(let value), _), .column(let index, _)) where index == timestampIndex:
            let flipped: ComparisonOperator =
                switch op {
                case .less: .greater
                case .lessOrEqual: .greaterOrEqual
                case .greater: .less
                case .greaterOrEqual: .lessOrEqual
                default: op
                }
            return Self.range(flipped, value)
        default:
            return nil
        }
    }

    /// The AND-ed parts of a predicate, left to right (itself when it is no AND).
    var conjuncts: [BoundExpression] {
        if case .and(let l, let r) = self { return l.conjuncts + r.conjuncts }
        return [self]
    }

    /// The predicate without the conjuncts `timestampIntervals` read (a scan limited to those
    /// intervals already guarantees them); nil when nothing is left.
    func removingTimestampConjuncts(_ timestampIndex: Int) -> BoundExpression? {
        if case .and(let l, let r) = self {
            switch (l.removingTimestampConjuncts(timestampIndex), r.removingTimestampConjuncts(timestampIndex)) {
            case (nil, nil): return nil
            case (let a?, nil): return a
            case (nil, let b?): return b
            case (let a?, let b?): return .and(a, b)
            }
        }
        if case .comparison(.notEqual, _, _) = self { return self }
        return timestampIntervals(timestampIndex) == nil ? self : nil
    }

    private static func range(_ op: ComparisonOperator, _ value: Int64) -> [Range<Int64>]? {
        switch op {
        case .equal: return [value..<(value &+ 1)]
        case .less: return [Int64.min..<value]
        case .lessOrEqual: return [Int64.min..<(value == Int64.max ? value : value + 1)]
        case .greater: return [(value == Int64.max ? value : value + 1)..<Int64.max]
        case .greaterOrEqual: return [value..<Int64.max]
        case .notEqual: return nil
        }
    }

    static func normalize(_ ranges: [Range<Int64>]) -> [Range<Int64>] {
        let sorted = ranges.filter { !$0.isEmpty }.sorted { $0.lowerBound < $1.lowerBound }
        var merged: [Range<Int64>] = []
        for range in sorted {
            if let last = merged.last, range.lowerBound <= last.upperBound {
                merged[merged.count - 1] = last.lowerBound..<max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        return merged
    }

    static func intersect(_ a: [Range<Int64>], _ b: [Range<Int64>]) -> [Range<Int64>] {
        var out: [Range<Int64>] = []
        for x in a {
            for y in b {
                let low = max(x.lowerBound, y.lowerBound), high = min(x.upperBound, y.upperBound)
                if low < high { out.append(low..<high) }
            }
        }
        return normalize(out)
    }
}

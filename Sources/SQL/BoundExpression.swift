import Storage

/// A constant value with its type (folded literals, bind parameters).
package enum SQLValue: Sendable, Equatable {
    case null
    case boolean(Bool)
    case integer(Int64)
    case real(Double)
    case text(String)
}

/// A correlated scalar subquery: the enclosing row's columns `inputs` (position, type) go in,
/// one value comes out. Catalog queries of psql and ORMs use these; they run per row.
struct CorrelatedSubquery {
    let inputs: [(Int, SQLType)]
    let run: ([SQLValue]) throws(SQLError) -> SQLValue
}

/// An expression with names resolved to column positions and every node typed. Evaluated a
/// batch at a time: one `switch` per node per batch, then a typed loop over the rows.
indirect enum BoundExpression {
    case column(Int, SQLType)
    case constant(SQLValue, SQLType)
    case negate(BoundExpression, SQLType)
    case not(BoundExpression)
    case arithmetic(ArithmeticOperator, BoundExpression, BoundExpression, SQLType)
    case concat(BoundExpression, BoundExpression)
    /// Operands already coerced to one comparable type.
    case comparison(ComparisonOperator, BoundExpression, BoundExpression)
    case and(BoundExpression, BoundExpression)
    case or(BoundExpression, BoundExpression)
    case isNull(BoundExpression, negated: Bool)
    /// `x IN (constants)`; the constants have `x`'s type.
    case inList(BoundExpression, [SQLValue], negated: Bool)
    /// `ts IN '2024-01'` and interval lists: half-open µs ranges.
    case inIntervals(BoundExpression, [Range<Int64>], negated: Bool)
    case like(BoundExpression, LikePattern, negated: Bool)
    case regex(BoundExpression, Regex<AnyRegexOutput>, negated: Bool)
    case caseWhen([(BoundExpression, BoundExpression)], otherwise: BoundExpression, SQLType)
    case cast(BoundExpression, to: SQLType, position: Int)
    case function(ScalarFunction, [BoundExpression], SQLType)
    /// A scalar subquery that reads columns of the enclosing row: run once per row.
    case correlated(CorrelatedSubquery, SQLType)

    var type: SQLType {
        switch self {
        case .column(_, let type), .constant(_, let type), .negate(_, let type), .arithmetic(_, _, _, let type),
             .caseWhen(_, _, let type), .function(_, _, let type), .correlated(_, let type):
            type
        case .cast(_, let type, _): type
        case .concat: .string
        case .not, .comparison, .and, .or, .isNull, .inList, .inIntervals, .like, .regex: .boolean
        }
    }

    /// The constant value, when the expression is one.
    var constantValue: SQLValue? {
        if case .constant(let value, _) = self { return value }
        return nil
    }

    /// Whether anything volatile (`rnd_*`, row numbers) is called: such a filter must run
    /// exactly once per row, where it is written.
    var callsVolatile: Bool {
        switch self {
        case .column, .correlated, .constant: false
        case .function(let function, let arguments, _): function.isVolatile || arguments.contains(where: \.callsVolatile)
        case .negate(let e, _), .not(let e), .isNull(let e, _), .inList(let e, _, _), .inIntervals(let e, _, _),
             .like(let e, _, _), .regex(let e, _, _), .cast(let e, _, _):
            e.callsVolatile
        case .arithmetic(_, let l, let r, _), .concat(let l, let r), .comparison(_, let l, let r), .and(let l, let r),
             .or(let l, let r):
            l.callsVolatile || r.callsVolatile
        case .caseWhen(let branches, let otherwise, _):
            otherwise.callsVolatile || branches.contains { $0.0.callsVolatile || $0.1.callsVolatile }
        }
    }

    /// Whether the expression reads no column and calls nothing volatile (so it can be folded).
    var isFoldable: Bool {
        switch self {
        case .column, .correlated: false
        case .constant: true
        case .function(let function, let arguments, _): !function.isVolatile && arguments.allSatisfy(\.isFoldable)
        case .negate(let e, _), .not(let e), .isNull(let e, _), .inList(let e, _, _), .inIntervals(let e, _, _),
             .like(let e, _, _), .regex(let e, _, _), .cast(let e, _, _):
            e.isFoldable
        case .arithmetic(_, let l, let r, _), .concat(let l, let r), .comparison(_, let l, let r), .and(let l, let r),
             .or(let l, let r):
            l.isFoldable && r.isFoldable
        case .caseWhen(let branches, let otherwise, _):
            otherwise.isFoldable && branches.allSatisfy { $0.0.isFoldable && $0.1.isFoldable }
        }
    }
}

enum ArithmeticOperator: Sendable {
    case add, subtract, multiply, divide, remainder
}

enum ComparisonOperator: Sendable {
    case equal, notEqual, less, lessOrEqual, greater, greaterOrEqual
}

/// A `LIKE` pattern compiled once: `%` any run, `_` one character, `\` escapes. Matching is
/// the iterative wildcard algorithm (one backtrack point), linear-ish and never exponential.
struct LikePattern: Sendable {
    enum Token: Sendable, Equatable {
        case character(Character)
        case any
        case one
    }

    let tokens: [Token]
    let caseInsensitive: Bool

    init(_ pattern: String, caseInsensitive: Bool) {
        var tokens: [Token] = []
        var escaped = false
        for character in caseInsensitive ? pattern.lowercased() : pattern {
            if escaped {
                tokens.append(.character(character))
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "%" {
                if tokens.last != .any { tokens.append(.any) }
            } else {
                tokens.append(character == "_" ? .one : .character(character))
            }
        }
        self.tokens = tokens
        self.caseInsensitive = caseInsensitive
    }

    func matches(_ text: String) -> Bool {
        let characters = Array(caseInsensitive ? text.lowercased() : text)
        var t = 0, p = 0
        var starP = -1, starT = 0
        while t < characters.count {
            if p < tokens.count, tokens[p] == .one || tokens[p] == .character(characters[t]) {
                t += 1
                p += 1
            } else if p < tokens.count, tokens[p] == .any {
                starP = p
                starT = t
                p += 1
            } else if starP >= 0 {
                p = starP + 1
                starT += 1
                t = starT
            } else {
                return false
            }
        }
        while p < tokens.count, tokens[p] == .any { p += 1 }
        return p == tokens.count
    }
}

import Storage

/// Resolves names and types of an expression against a scope, coerces operands, folds
/// constants and turns timestamp literals into instants. Errors point at the offending node.
struct Binder {
    let scope: Scope
    let context: BindingContext

    func bind(_ expression: SQLExpression) throws(SQLError) -> BoundExpression {
        let bound = try bindUnfolded(expression)
        if case .constant = bound { return bound }
        guard bound.isFoldable else { return bound }
        return .constant(try ExpressionEvaluator.evaluateConstant(bound), bound.type)
    }

    /// Binds a predicate: the result must be BOOLEAN.
    func bindPredicate(_ expression: SQLExpression) throws(SQLError) -> BoundExpression {
        let bound = try bind(expression)
        guard bound.type == .boolean || bound.type == .null else {
            throw SQLError(.typeMismatch, "boolean expression expected", at: expression.position)
        }
        return bound
    }

    private func bindUnfolded(_ expression: SQLExpression) throws(SQLError) -> BoundExpression {
        let position = expression.position
        switch expression.kind {
        case .column(let qualifier, let name):
            let index: Int
            do {
                index = try scope.resolve(qualifier, name, at: position)
            } catch {
                // A column of the enclosing row (correlated subquery).
                if let (column, value) = context.outer.first(where: { column, _ in
                    column.name.lowercased() == name.lowercased() && (qualifier == nil || column.qualifier?.lowercased() == qualifier?.lowercased())
                }) {
                    return .constant(value, column.type)
                }
                // SQL's parenthesis-free functions, when no column has the name.
                let lower = name.lowercased()
                guard qualifier == nil, FunctionBinder.bareFunctions.contains(lower) else { throw error }
                return try FunctionBinder(binder: self).bind(lower, [], at: position)
            }
            return .column(index, scope.columns[index].type)
        case .star:
            throw SQLError(.syntax, "'*' is not allowed here", at: position)
        case .null:
            return .constant(.null, .null)
        case .boolean(let value):
            return .constant(.boolean(value), .boolean)
        case .decimal(let text) where text.hasSuffix("m"):
            return try Self.decimalLiteral(text.dropLast(), at: position)
        case .integer(let text) where text.hasSuffix("m"):
            return try Self.decimalLiteral(text.dropLast(), at: position)
        case .integer(let text):
            return try Self.integerLiteral(text, at: position)
        case .decimal(let text):
            var digits = text
            if let last = digits.last, last == "f" || last == "F" || last == "d" || last == "D" { digits.removeLast() }
            guard let value = Double(digits) else { throw SQLError(.syntax, "invalid number '\(text)'", at: position) }
            return .constant(.real(value), .double)
        case .string(let text):
            return .constant(.text(text), .string)
        case .parameter(let number):
            let declared = number <= context.parameterTypes.count ? context.parameterTypes[number - 1] : nil
            if let inference = context.inference {
                inference.used(number)
                return .constant(.null, declared ?? inference.types[number] ?? .null)
            }
            guard number <= context.parameters.count else {
                throw SQLError(.invalidValue, "no value for bind parameter $\(number)", at: position)
            }
            let value = Self.constant(context.parameters[number - 1])
            guard let declared, declared != value.type else { return value }
            return try coerce(value, to: declared, at: position, explicit: true)
        case .unary(let op, let operand):
            return try unary(op, operand, at: position)
        case .binary(let op, let left, let right):
            return try binary(op, left, right, at: position)
        case .function(let name, let arguments, _):
            if AggregateKind.isAggregate(name) {
                throw SQLError(.syntax, "aggregate function \(name)() is not allowed here", at: position)
            }
            return try FunctionBinder(binder: self).bind(name, arguments, at: position)
        case .cast(let value, let typeName):
            if typeName.name.lowercased() == "regclass", case .text(let name)? = try bind(value).constantValue {
                // `'pg_catalog.pg_class'::regclass`: the relation's OID, as PostgreSQL resolves it.
                guard let oid = context.relationOID?(name) else {
                    throw SQLError(.undefinedTable, "relation \"\(name)\" does not exist", at: value.position)
                }
                return .constant(.integer(oid), .int)
            }
            let target = try TypeNames.resolve(typeName)
            context.inference?.note(value, as: .column(target))
            return try coerce(try bind(value), to: .column(target), at: position, explicit: true)
        case .isNull(let value, let negated):
            return .isNull(try bind(value), negated: negated)
        case .inList(let value, let list, let negated):
            return try inList(value, list, negated: negated, at: position)
        case .between(let value, let low, let high, let negated):
            let bound = try bind(value)
            context.inference?.note(low, as: bound.type)
            context.inference?.note(high, as: bound.type)
            let lower = try comparison(.greaterOrEqual, bound, try bind(low), at: position, operands: (value.position, low.position))
            let upper = try comparison(.lessOrEqual, bound, try bind(high), at: position, operands: (value.position, high.position))
            let both = BoundExpression.and(lower, upper)
            return negated ? .not(both) : both
        case .like(let value, let pattern, let insensitive, let negated):
            let bound = try bind(value)
            guard bound.type.isText || bound.type == .null else {
                throw SQLError(.typeMismatch, "LIKE needs a text operand, not \(bound.type)", at: value.position)
            }
            context.inference?.note(pattern, as: .string)
            guard case .text(let text)? = try bind(pattern).constantValue else {
                if context.inference != nil { return .constant(.null, .boolean) }
                throw SQLError(.unsupported, "LIKE pattern must be a constant string", at: pattern.position)
            }
            return .like(bound, LikePattern(text, caseInsensitive: insensitive), negated: negated)
        case .caseWhen(let operand, let branches, let otherwise):
            return try caseWhen(operand, branches, otherwise)
        case .window:
            throw SQLError(.syntax, "window functions are only allowed in the select list", at: position)
        case .subquery(let query):
            let result: QueryResult
            do {
                result = try runSubquery(query, at: position)
            } catch {
                guard error.code == .undefinedColumn, let correlate = context.runCorrelated, !scope.columns.isEmpty else { throw error }
                return try correlated(query, correlate, at: position)
            }
            guard result.columns.count == 1 else {
                throw SQLError(.syntax, "scalar subquery must return one column", at: position)
            }
            guard result.rowCount <= 1 else {
                throw SQLError(.invalidValue, "scalar subquery returned more than one row", at: position)
            }
            let value = result.rowCount == 0 ? SQLValue.null : result.value(row: 0, column: 0)
            return .constant(value, result.columns[0].type)
        }
    }

    /// A scalar subquery that names columns of this scope: its type from one run with NULLs,
    /// then one run per row.
    private func correlated(
        _ query: SQLQuery, _ correlate: @escaping (SQLQuery, [Scope.Column], [SQLValue]) throws(SQLError) -> QueryResult, at position: Int
    ) throws(SQLError) -> BoundExpression {
        let columns = scope.columns
        let probe = try correlate(query, columns, columns.map { _ in .null })
        guard probe.columns.count == 1 else { throw SQLError(.syntax, "scalar subquery must return one column", at: position) }
        let type = probe.columns[0].type
        let run = { (values: [SQLValue]) throws(SQLError) -> SQLValue in
            let result = try correlate(query, columns, values)
            guard result.rowCount <= 1 else {
                throw SQLError(.invalidValue, "scalar subquery returned more than one row", at: position)
            }
            return result.rowCount == 0 ? .null : result.value(row: 0, column: 0)
        }
        return .correlated(CorrelatedSubquery(inputs: columns.enumerated().map { ($0, $1.type) }, run: run), type)
    }

    func runSubquery(_ query: SQLQuery, at position: Int) throws(SQLError) -> QueryResult {
        guard let run = context.runSubquery else { throw SQLError(.unsupported, "subqueries are not allowed here", at: position) }
        return try run(query, position)
    }

    /// QuestDB's decimal literal, `123.45m`: DECIMAL(digits, fraction digits), exact.
    static func decimalLiteral(_ text: Substring, at position: Int) throws(SQLError) -> BoundExpression {
        let unsigned = text.hasPrefix("-") ? text.dropFirst() : text
        let parts = unsigned.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard !unsigned.isEmpty, parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              parts.contains(where: { !$0.isEmpty })
        else { throw SQLError(.syntax, "invalid decimal '\(text)m'", at: position) }
        let scale = parts.count == 2 ? parts[1].count : 0
        let precision = max(1, String(parts[0].drop { $0 == "0" }).count + scale)
        guard precision <= ColumnType.maxDecimalPrecision else {
            throw SQLError(.invalidValue, "decimal literal '\(text)m' has more than \(ColumnType.maxDecimalPrecision) digits", at: position)
        }
        let type = SQLType.column(.decimal(precision: max(precision, scale), scale: scale))
        guard let value = DecimalText.value(String(text), type) else {
            throw SQLError(.syntax, "invalid decimal '\(text)m'", at: position)
        }
        return .constant(value, type)
    }

    static func integerLiteral(_ text: String, at position: Int) throws(SQLError) -> BoundExpression {
        var digits = Substring(text)
        var forceLong = false
        if digits.hasSuffix("L") || digits.hasSuffix("l") {
            digits = digits.dropLast()
            forceLong = true
        }
        var value: Int64?
        let negative = digits.hasPrefix("-")
        let magnitude = negative ? digits.dropFirst() : digits
        if magnitude.hasPrefix("0x") || magnitude.hasPrefix("0X") {
            value = UInt64(magnitude.dropFirst(2), radix: 16).map { Int64(bitPattern: $0) }.map { negative ? -$0 : $0 }
        } else if magnitude.allSatisfy(\.isNumber) {
            value = Int64(digits)
        } else if let unit = magnitude.last.flatMap({ TimeUnit(letter: String($0)) }), let count = Int64(digits.dropLast()) {
            // `1h` as a value: an interval in µs (used by dateadd-like arithmetic).
            let (micros, overflow) = count.multipliedReportingOverflow(by: unit.fixedMicros ?? 0)
            guard !overflow else { throw SQLError(.invalidValue, "interval '\(text)' is too large", at: position) }
            return .constant(.integer(micros), .long)
        }
        guard let value else { throw SQLError(.syntax, "invalid number '\(text)'", at: position) }
        if !forceLong, value > Int64(Int32.min), value <= Int64(Int32.max) { return .constant(.integer(value), .int) }
        return .constant(.integer(value), .long)
    }

    static func constant(_ value: SQLValue) -> BoundExpression {
        switch value {
        case .null: .constant(.null, .null)
        case .boolean: .constant(value, .boolean)
        case .integer: .constant(value, .long)
        case .real: .constant(value, .double)
        case .text: .constant(value, .string)
        }
    }

    private func unary(_ op: String, _ operand: SQLExpression, at position: Int) throws(SQLError) -> BoundExpression {
        let bound = try bind(operand)
        if op == "not" {
            guard bound.type == .boolean || bound.type == .null else {
                throw SQLError(.typeMismatch, "NOT needs a boolean operand, not \(bound.type)", at: operand.position)
            }
            return .not(bound)
        }
        guard bound.type.isNumeric || bound.type.isDecimal || bound.type == .null else {
            throw SQLError(.typeMismatch, "cannot negate \(bound.type)", at: position)
        }
        return .negate(bound, bound.type == .null ? .int : bound.type)
    }

    private func binary(_ op: String, _ left: SQLExpression, _ right: SQLExpression, at position: Int) throws(SQLError)
        -> BoundExpression
    {
        switch op {
        case "and", "or":
            let l = try bindPredicate(left), r = try bindPredicate(right)
            return op == "and" ? .and(l, r) : .or(l, r)
        case "~", "!~":
            context.inference?.note(right, as: .string)
            let value = try bind(left)
            guard case .text(let pattern)? = try bind(right).constantValue else {
                if context.inference != nil { return .constant(.null, .boolean) }
                throw SQLError(.unsupported, "regular expression must be a constant string", at: right.position)
            }
            do {
                return .regex(value, try Regex(pattern), negated: op == "!~")
            } catch {
                throw SQLError(.invalidValue, "invalid regular expression: \(pattern)", at: right.position)
            }
        default:
            break
        }
        let pair = try bindOperands(left, right)
        switch op {
        case "=": return try comparison(.equal, pair.0, pair.1, at: position, operands: (left.position, right.position))
        case "!=": return try comparison(.notEqual, pair.0, pair.1, at: position, operands: (left.position, right.position))
        case "<": return try comparison(.less, pair.0, pair.1, at: position, operands: (left.position, right.position))
        case "<=": return try comparison(.lessOrEqual, pair.0, pair.1, at: position, operands: (left.position, right.position))
        case ">": return try comparison(.greater, pair.0, pair.1, at: position, operands: (left.position, right.position))
        case ">=": return try comparison(.greaterOrEqual, pair.0, pair.1, at: position, operands: (left.position, right.position))
        case "||": return .concat(pair.0, pair.1)
        default:
            let operators: [String: ArithmeticOperator] = ["+": .add, "-": .subtract, "*": .multiply, "/": .divide, "%": .remainder]
            return try arithmetic(operators[op]!, pair.0, pair.1, at: position)
        }
    }

    /// Binds both operands of a binary operator; while describing, a parameter on one side
    /// takes the other side's type.
    private func bindOperands(_ left: SQLExpression, _ right: SQLExpression) throws(SQLError) -> (BoundExpression, BoundExpression) {
        guard let inference = context.inference else { return (try bind(left), try bind(right)) }
        if case .parameter = left.kind {
            let r = try bind(right)
            inference.note(left, as: r.type)
            return (try bind(left), r)
        }
        let l = try bind(left)
        inference.note(right, as: l.type)
        return (l, try bind(right))
    }

    func arithmetic(_ op: ArithmeticOperator, _ left: BoundExpression, _ right: BoundExpression, at position: Int)
        throws(SQLError) -> BoundExpression
    {
        let l = left.type, r = right.type
        // Timestamp arithmetic: ts ± long → ts, ts − ts → long (µs).
        if l.isTemporal || r.isTemporal {
            if l.isTemporal, r.isTemporal, op == .subtract {
                return .arithmetic(op, left, try coerce(right, to: l, at: position), .long)
            }
            let (temporal, other) = l.isTemporal ? (l, r) : (r, l)
            guard op == .add || (op == .subtract && l.isTemporal), other.isNumeric || other == .null,
                  other.representation == .integer || other == .null
            else {
                throw SQLError(.typeMismatch, "operator not supported for \(l) and \(r)", at: position)
            }
            return .arithmetic(op, try coerce(left, to: .long, at: position), try coerce(right, to: .long, at: position), temporal)
        }
        if l.isDecimal || r.isDecimal { return try decimalArithmetic(op, left, right, at: position) }
        guard (l.isNumeric || l == .null), (r.isNumeric || r == .null) else {
            throw SQLError(.typeMismatch, "operator not supported for \(l) and \(r)", at: position)
        }
        let type = Self.numericResult(l, r)
        return .arithmetic(op, try coerce(left, to: type, at: position), try coerce(right, to: type, at: position), type)
    }

    /// DECIMAL arithmetic stays exact where it can, typed as QuestDB types it (integers as
    /// DECIMAL(n, 0), LONG 19 digits): ± at the larger scale with one digit more than the wider
    /// side, × with precisions and scales added, ÷ at the larger scale truncated toward zero
    /// (QuestDB: `10.00m / 3.00m` is 3.33) with room for dividing by the smallest divisor;
    /// precisions cap at 76 (a result past it is NULL). Past 18 digits the values are
    /// `Int256`s. Remainder and anything with a DOUBLE run on doubles.
    private func decimalArithmetic(_ op: ArithmeticOperator, _ left: BoundExpression, _ right: BoundExpression, at position: Int)
        throws(SQLError) -> BoundExpression
    {
        let l = left.type, r = right.type
        guard (l.isDecimal || l.isNumeric || l == .null), (r.isDecimal || r.isNumeric || r == .null) else {
            throw SQLError(.typeMismatch, "operator not supported for \(l) and \(r)", at: position)
        }
        guard let (p1, s1) = l.decimalShape, let (p2, s2) = r.decimalShape else {
            return .arithmetic(op, try coerce(left, to: .double, at: position), try coerce(right, to: .double, at: position), .double)
        }
        // Integer sides as LONG (scale 0); the evaluator scales them.
        func exact(_ side: BoundExpression) throws(SQLError) -> BoundExpression {
            side.type.isDecimal ? side : try coerce(side, to: .long, at: position)
        }
        switch op {
        case .add, .subtract:
            let scale = max(s1, s2)
            let type = SQLType.decimal(precision: max(p1 - s1, p2 - s2) + scale + 1, scale: scale)
            return .arithmetic(op, try coerce(left, to: type, at: position), try coerce(right, to: type, at: position), type)
        case .multiply where s1 + s2 <= ColumnType.maxDecimalPrecision:
            return .arithmetic(op, try exact(left), try exact(right), .decimal(precision: p1 + p2, scale: s1 + s2))
        case .divide:
            let scale = max(s1, s2)
            return .arithmetic(op, try exact(left), try exact(right), .decimal(precision: p1 - s1 + s2 + scale, scale: scale))
        default:
            return .arithmetic(op, try coerce(left, to: .double, at: position), try coerce(right, to: .double, at: position), .double)
        }
    }

    /// The decimal both sides of a comparison (or of a UNION, CASE, …) are read as: the larger
    /// scale and the wider integer part.
    static func commonDecimal(_ l: SQLType, _ r: SQLType) -> SQLType? {
        guard let (p1, s1) = l.decimalShape, let (p2, s2) = r.decimalShape else { return nil }
        let scale = max(s1, s2)
        return .decimal(precision: max(p1 - s1, p2 - s2) + scale, scale: scale)
    }

    static func numericResult(_ l: SQLType, _ r: SQLType) -> SQLType {
        if l.representation == .real || r.representation == .real { return .double }
        if l == .long || r == .long { return .long }
        if l == .null && r == .null { return .int }
        return .int
    }

    /// `operands`: positions of the two sides, so a bad constant is reported where it is written.
    func comparison(
        _ op: ComparisonOperator, _ left: BoundExpression, _ right: BoundExpression, at position: Int,
        operands: (Int, Int)? = nil
    ) throws(SQLError) -> BoundExpression {
        if let integral = Self.integralComparison(op, left, right) { return integral }
        if let decimal = try decimalComparison(op, left, right, at: position) { return decimal }
        let type = try Self.commonType(left.type, right.type, at: position)
        return .comparison(
            op, try coerce(left, to: type, at: operands?.0 ?? position), try coerce(right, to: type, at: operands?.1 ?? position))
    }

    /// Comparisons with a DECIMAL: decimals at the larger scale, a constant the decimal's
    /// scale holds exactly (`price = 1.10`, `price > 100`) and integer expressions as scaled
    /// integers; anything else numeric as doubles. Nil when no DECIMAL is involved (or the
    /// other side is text or NULL, which the common type handles).
    private func decimalComparison(_ op: ComparisonOperator, _ left: BoundExpression, _ right: BoundExpression, at position: Int)
        throws(SQLError) -> BoundExpression?
    {
        let l = left.type, r = right.type
        guard l.isDecimal || r.isDecimal else { return nil }
        if let ls = l.decimalScale, let rs = r.decimalScale {
            if ls == rs, l.isWideDecimal == r.isWideDecimal { return .comparison(op, left, right) }
            let type = Self.commonDecimal(l, r)!
            return .comparison(op, try coerce(left, to: type, at: position), try coerce(right, to: type, at: position))
        }
        let (decimal, other, flipped) = l.isDecimal ? (left, right, false) : (right, left, true)
        func ordered(_ a: BoundExpression, _ b: BoundExpression) -> BoundExpression { flipped ? .comparison(op, b, a) : .comparison(op, a, b) }
        if let value = other.constantValue, value != .null, other.type.isNumeric {
            // A constant the decimal's scale holds exactly is compared as one of its values.
            var exact: Double?
            switch value {
            case .integer(let n): exact = Double(exactly: n)
            case .real(let d): exact = d
            default: break
            }
            if let exact, let constant = try? ValueConversion.convert(.real(exact), from: .double, to: decimal.type, at: position),
               constant != .null,
               case .real(let back) = try ValueConversion.convert(constant, from: decimal.type, to: .double, at: position), back == exact
            {
                return ordered(decimal, .constant(constant, decimal.type))
            }
        }
        guard other.type.isNumeric else { return nil }
        if other.type.representation == .integer {
            let type = Self.commonDecimal(decimal.type, other.type)!
            return ordered(try coerce(decimal, to: type, at: position), try coerce(other, to: type, at: position))
        }
        return ordered(try coerce(decimal, to: .double, at: position), try coerce(other, to: .double, at: position))
    }

    /// `integer_column op 90.5` compared as integers (`> 90`, `>= 91`, …), so the column is not
    /// converted to doubles row by row. Nil when the rewrite does not apply.
    private static func integralComparison(_ op: ComparisonOperator, _ left: BoundExpression, _ right: BoundExpression)
        -> BoundExpression?
    {
        guard left.type.isNumeric, left.type.representation == .integer, case .constant(.real(let constant), _) = right,
              constant.isFinite, constant > -9.0e18, constant < 9.0e18
        else { return nil }
        let integral = constant.rounded(.towardZero) == constant
        let floor = Int64(constant.rounded(.down)), ceiling = Int64(constant.rounded(.up))
        let never = BoundExpression.constant(.boolean(false), .boolean)
        func compare(_ op: ComparisonOperator, _ value: Int64) -> BoundExpression {
            .comparison(op, .cast(left, to: .long, position: 0), .constant(.integer(value), .long))
        }
        switch op {
        case .greater: return compare(.greater, floor)
        case .greaterOrEqual: return compare(.greaterOrEqual, ceiling)
        case .less: return compare(.less, ceiling)
        case .lessOrEqual: return compare(.lessOrEqual, floor)
        case .equal: return integral ? compare(.equal, floor) : never
        case .notEqual: return integral ? compare(.notEqual, floor) : nil
        }
    }

    /// The type two operands are compared, unioned or chosen between in.
    static func commonType(_ l: SQLType, _ r: SQLType, at position: Int) throws(SQLError) -> SQLType {
        if l == r { return l }
        if l == .null { return r }
        if r == .null { return l }
        if l.isDecimal || r.isDecimal {
            if let common = commonDecimal(l, r) { return common }
            let other = l.isDecimal ? r : l
            if other.isNumeric { return .double }
        }
        if l.isText && r.isText { return l == .symbol ? r : l }
        if l.isTemporal && (r.isText || r.representation == .integer) { return l }
        if r.isTemporal && (l.isText || l.representation == .integer) { return r }
        if l.isNumeric && r.isNumeric { return numericResult(l, r) }
        // Text against any other type is read as that type ('1.2.3.4' = ip, 'true' = flag).
        if l.isText { return r }
        if r.isText { return l }
        if l.isTemporal && r.isTemporal { return .timestamp }
        throw SQLError(.typeMismatch, "inconvertible types: \(l) and \(r)", at: position)
    }

    /// `value` as `type`: constants are converted now (a bad one is an error here), others get a cast.
    func coerce(_ value: BoundExpression, to type: SQLType, at position: Int, explicit: Bool = false) throws(SQLError)
        -> BoundExpression
    {
        if value.type == type { return value }
        if value.type.isText && type.isText && !explicit { return value }
        if case .constant(let constant, let from) = value {
            return .constant(try ValueConversion.convert(constant, from: from, to: type, at: position), type)
        }
        return .cast(value, to: type, position: position)
    }

    private func inList(_ value: SQLExpression, _ list: [SQLExpression], negated: Bool, at position: Int) throws(SQLError)
        -> BoundExpression
    {
        let bound = try bind(value)
        if list.count == 1, let interval = try intervalBounds(list[0]) {
            return try inInterval(bound, interval, negated: negated, at: position)
        }
        for item in list { context.inference?.note(item, as: bound.type) }
        if list.count == 1, case .subquery(let query) = list[0].kind {
            let result = try runSubquery(query, at: list[0].position)
            guard result.columns.count == 1 else { throw SQLError(.syntax, "IN subquery must return one column", at: list[0].position) }
            let type = try Self.commonType(bound.type, result.columns[0].type, at: position)
            var values: [SQLValue] = []
            for row in 0..<result.rowCount {
                values.append(try ValueConversion.convert(result.value(row: row, column: 0), from: result.columns[0].type, to: type, at: position))
            }
            return .inList(try coerce(bound, to: type, at: position), values, negated: negated)
        }
        if bound.type.isTemporal {
            // `ts IN '2024-01'` and `ts IN ('2024-01-01', '2024-02-01;1d')`: periods, not instants.
            var ranges: [Range<Int64>] = []
            for item in list {
                let element = try bind(item)
                switch element.constantValue {
                case .text(let text)?:
                    ranges.append(contentsOf: try IntervalText.parse(text, now: context.now, at: item.position))
                case .integer(let instant)?:
                    ranges.append(instant..<(instant + 1))
                case .null?:
                    continue
                default:
                    throw SQLError(.unsupported, "IN list of a timestamp must hold constants", at: item.position)
                }
            }
            let scale: Int64 = bound.type == .column(.date) ? 1000 : 1
            let column = scale == 1 ? bound : BoundExpression.cast(bound, to: .timestamp, position: position)
            return .inIntervals(column, ranges, negated: negated)
        }
        var values: [SQLValue] = []
        var type = bound.type
        var boundItems: [BoundExpression] = []
        for item in list {
            let element = try bind(item)
            guard element.constantValue != nil else {
                throw SQLError(.unsupported, "IN list must hold constants", at: item.position)
            }
            type = try Self.commonType(type, element.type, at: item.position)
            boundItems.append(element)
        }
        for (item, element) in zip(list, boundItems) {
            values.append(try ValueConversion.convert(element.constantValue!, from: element.type, to: type, at: item.position))
        }
        return .inList(try coerce(bound, to: type, at: position), values, negated: negated)
    }

    private func caseWhen(_ operand: SQLExpression?, _ branches: [(SQLExpression, SQLExpression)], _ otherwise: SQLExpression?)
        throws(SQLError) -> BoundExpression
    {
        let subject = try operand.map { (e) throws(SQLError) in try bind(e) }
        var conditions: [BoundExpression] = []
        var values: [BoundExpression] = []
        var type = SQLType.null
        for (condition, value) in branches {
            if let subject {
                conditions.append(try comparison(.equal, subject, try bind(condition), at: condition.position))
            } else {
                conditions.append(try bindPredicate(condition))
            }
            let bound = try bind(value)
            type = try Self.commonType(type, bound.type, at: value.position)
            values.append(bound)
        }
        var elseValue = BoundExpression.constant(.null, .null)
        if let otherwise {
            elseValue = try bind(otherwise)
            type = try Self.commonType(type, elseValue.type, at: otherwise.position)
        }
        if type == .null { type = .string }
        var pairs: [(BoundExpression, BoundExpression)] = []
        for (index, value) in values.enumerated() {
            pairs.append((conditions[index], try coerce(value, to: type, at: branches[index].1.position, explicit: true)))
        }
        return .caseWhen(pairs, otherwise: try coerce(elseValue, to: type, at: otherwise?.position ?? 0, explicit: true), type)
    }
}

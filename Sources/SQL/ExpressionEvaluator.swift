import Storage

/// Evaluates bound expressions over a batch: one `switch` per node, then a typed loop.
struct ExpressionEvaluator {
    let batch: ColumnBatch
    /// Row number (from 0) of the batch's first row in its source, for `x`-style sequences.
    var firstRow: Int64 = 0

    var count: Int { batch.count }

    /// A constant expression's value (evaluated over one row).
    static func evaluateConstant(_ expression: BoundExpression) throws(SQLError) -> SQLValue {
        let evaluator = ExpressionEvaluator(batch: ColumnBatch(columns: [], count: 1))
        let vector = try evaluator.evaluate(expression)
        return vector.value(at: 0, type: expression.type)
    }

    func evaluate(_ expression: BoundExpression) throws(SQLError) -> ColumnVector {
        switch expression {
        case .column(let index, _):
            return batch.columns[index]
        case .constant(let value, let type):
            return ColumnVector.broadcast(value, type, count: count)
        case .negate(let operand, let type):
            let vector = try evaluate(operand)
            if type.representation == .real { return .real(vector.reals.map { -$0 }) }
            if case .wide(let values) = vector { return .wide(values.map { $0 == .min ? .min : $0.negated }) }
            let null = type.integerNull
            return .integer(vector.integers.map { $0 == null ? null : 0 &- $0 })
        case .not(let operand):
            return .boolean(try evaluate(operand).booleans.map { !$0 })
        case .and(let left, let right):
            let l = try evaluate(left).booleans, r = try evaluate(right).booleans
            return .boolean(zip(l, r).map { $0 && $1 })
        case .or(let left, let right):
            let l = try evaluate(left).booleans, r = try evaluate(right).booleans
            return .boolean(zip(l, r).map { $0 || $1 })
        case .arithmetic(let op, let left, let right, let type):
            return try arithmetic(op, left, right, type)
        case .concat(let left, let right):
            let l = try evaluate(left).asText(left.type), r = try evaluate(right).asText(right.type)
            return .text(zip(l, r).map { ($0 ?? "") + ($1 ?? "") })
        case .comparison(let op, let left, let right):
            return try compare(op, left, right)
        case .isNull(let operand, let negated):
            let mask = try evaluate(operand).nullMask(operand.type)
            return .boolean(negated ? mask.map { !$0 } : mask)
        case .inList(let operand, let values, let negated):
            return try inList(operand, values, negated)
        case .inIntervals(let operand, let ranges, let negated):
            let values = try evaluate(operand).integers
            return .boolean(values.map { value in ranges.contains { $0.contains(value) } != negated })
        case .like(let operand, let pattern, let negated):
            let texts = try evaluate(operand).asText(operand.type)
            return .boolean(texts.map { $0.map { pattern.matches($0) != negated } ?? false })
        case .regex(let operand, let regex, let negated):
            let texts = try evaluate(operand).asText(operand.type)
            return .boolean(texts.map { $0.map { ($0.firstMatch(of: regex) != nil) != negated } ?? false })
        case .caseWhen(let branches, let otherwise, let type):
            return try caseWhen(branches, otherwise, type)
        case .cast(let operand, let type, let position):
            return try VectorCast.cast(try evaluate(operand), from: operand.type, to: type, at: position)
        case .function(let function, let arguments, let type):
            return try FunctionEvaluator(evaluator: self).evaluate(function, arguments, type)
        case .correlated(let subquery, let type):
            var values: [SQLValue] = []
            values.reserveCapacity(count)
            for row in 0..<count {
                values.append(try subquery.run(subquery.inputs.map { batch.columns[$0.0].value(at: row, type: $0.1) }))
            }
            return ColumnVector.from(values, type: type)
        }
    }

    /// 10^0 … 10^38, for decimal division's 128-bit intermediate.
    private static let powersOf10: [Int128] = (0...38).map { exponent in (0..<exponent).reduce(Int128(1)) { result, _ in result * 10 } }

    private func arithmetic(_ op: ArithmeticOperator, _ left: BoundExpression, _ right: BoundExpression, _ type: SQLType)
        throws(SQLError) -> ColumnVector
    {
        let l = try evaluate(left), r = try evaluate(right)
        if left.type.representation == .real || right.type.representation == .real {
            let a = l.reals, b = r.reals
            var out = [Double](repeating: 0, count: count)
            switch op {
            case .add: for i in 0..<count { out[i] = a[i] + b[i] }
            case .subtract: for i in 0..<count { out[i] = a[i] - b[i] }
            case .multiply: for i in 0..<count { out[i] = a[i] * b[i] }
            case .divide: for i in 0..<count { out[i] = a[i] / b[i] }
            case .remainder: for i in 0..<count { out[i] = a[i].truncatingRemainder(dividingBy: b[i]) }
            }
            if type == .column(.float) { for i in 0..<count { out[i] = Double(Float(out[i])) } }
            return .real(out)
        }
        if type.isWideDecimal || left.type.isWideDecimal || right.type.isWideDecimal {
            return Self.wideArithmetic(op, Self.wides(l, left.type), left.type, Self.wides(r, right.type), right.type, type)
        }
        let a = l.integers, b = r.integers
        let nullA = left.type.integerHasNull ? left.type.integerNull : nil
        let nullB = right.type.integerHasNull ? right.type.integerNull : nil
        let null = type.integerNull
        var out = [Int64](repeating: null, count: count)
        let narrow = type == .int
        // Decimal ÷: (x / 10^sa) / (y / 10^sb) at scale s is x × 10^(s + sb − sa) / y.
        let divisionShift = type.decimalScale.map { $0 + (right.type.decimalScale ?? 0) - (left.type.decimalScale ?? 0) } ?? 0
        for i in 0..<count {
            let x = a[i], y = b[i]
            if x == nullA || y == nullB { continue }
            var value: Int64
            if type.isDecimal, op == .divide {
                // Truncated toward zero, as QuestDB; by zero, or past 18 digits, NULL.
                guard y != 0 else { continue }
                // The shift reaches 36 (scale 0 ÷ scale 18): a product past Int128 would give a
                // quotient past 18 digits anyway.
                let (dividend, overflow) = Int128(x).multipliedReportingOverflow(by: Self.powersOf10[divisionShift])
                guard !overflow else { continue }
                let quotient = dividend / Int128(y)
                if quotient > Int128(Int64.min), quotient <= Int128(Int64.max) { out[i] = Int64(quotient) }
                continue
            }
            if type.isDecimal {
                // DECIMAL arithmetic is exact or NULL: no wrapping past 18 digits.
                let (result, overflow) = switch op {
                case .add: x.addingReportingOverflow(y)
                case .subtract: x.subtractingReportingOverflow(y)
                default: x.multipliedReportingOverflow(by: y)
                }
                if !overflow, result != Int64.min { out[i] = result }
                continue
            }
            switch op {
            case .add: value = x &+ y
            case .subtract: value = x &- y
            case .multiply: value = x &* y
            case .divide:
                // Integer division by zero is NULL, as in QuestDB.
                if y == 0 { continue }
                value = x == Int64.min && y == -1 ? Int64.min : x / y
            case .remainder:
                if y == 0 { continue }
                value = y == -1 ? 0 : x % y
            }
            if narrow {
                // INT arithmetic wraps at 32 bits like Java's; Int32.min is INT's NULL.
                value = Int64(Int32(truncatingIfNeeded: value))
                if value == Int64(Int32.min) { continue }
            }
            out[i] = value
        }
        return .integer(out)
    }

    /// A decimal or integer vector's values as `Int256`s at their own scale (NULL `.min`).
    static func wides(_ vector: ColumnVector, _ type: SQLType) -> [Int256] {
        switch vector {
        case .wide(let values): return values
        case .integer(let values):
            let null: Int64? = type.integerHasNull ? type.integerNull : nil
            return values.map { $0 == null ? .min : Int256($0) }
        default: return Array(repeating: .min, count: vector.count)
        }
    }

    /// Decimal arithmetic where a side or the result is past 18 digits: ± over operands already
    /// at the result's scale, × adding scales, ÷ truncated toward zero at the result's scale.
    /// A result past the precision, or a division by zero, is NULL.
    private static func wideArithmetic(
        _ op: ArithmeticOperator, _ a: [Int256], _ left: SQLType, _ b: [Int256], _ right: SQLType, _ type: SQLType
    ) -> ColumnVector {
        guard case .column(.decimal(let precision, let scale)) = type else { return .nulls(type, count: a.count) }
        let divisionShift = scale + (right.decimalScale ?? 0) - (left.decimalScale ?? 0)
        var out = [Int256](repeating: .min, count: a.count)
        for i in a.indices {
            let x = a[i], y = b[i]
            if x == .min || y == .min { continue }
            let result: (partialValue: Int256, overflow: Bool)
            switch op {
            case .add: result = x.addingReportingOverflow(y)
            case .subtract: result = x.subtractingReportingOverflow(y)
            case .multiply: result = x.multipliedReportingOverflow(by: y)
            case .divide:
                guard divisionShift <= ColumnType.maxDecimalPrecision, let dividend = WideDecimal.fromInteger(x, scale: divisionShift),
                      let (quotient, _) = dividend.quotientAndRemainder(dividingBy: y)
                else { continue }
                result = (quotient, false)
            case .remainder: continue
            }
            if !result.overflow, WideDecimal.fits(result.partialValue, precision: precision) { out[i] = result.partialValue }
        }
        if type.isWideDecimal { return .wide(out) }
        return .integer(out.map { DecimalValue.narrow($0) ?? Int64.min })
    }

    private func compare(_ op: ComparisonOperator, _ left: BoundExpression, _ right: BoundExpression) throws(SQLError)
        -> ColumnVector
    {
        if case .constant(let value, _) = right, let fast = try compareToConstant(op, left, value) { return .boolean(fast) }
        let l = try evaluate(left), r = try evaluate(right)
        let type = left.type == .null ? right.type : left.type
        switch type.representation {
        case .integer:
            let a = l.integers, b = r.integers
            let null: Int64? = type.integerHasNull ? type.integerNull : nil
            return .boolean(Self.compareOrdered(op, a, b, isNull: { $0 == null }))
        case .real:
            let a = l.reals, b = r.reals
            switch op {
            case .equal: return .boolean(zip(a, b).map { $0 == $1 || ($0.isNaN && $1.isNaN) })
            case .notEqual: return .boolean(zip(a, b).map { !($0 == $1 || ($0.isNaN && $1.isNaN)) })
            default: return .boolean(Self.compareOrdered(op, a, b, isNull: { $0.isNaN }))
            }
        case .boolean:
            let a = l.booleans.map { $0 ? 1 : 0 }, b = r.booleans.map { $0 ? 1 : 0 }
            return .boolean(Self.compareOrdered(op, a, b, isNull: { _ in false }))
        case .wide:
            return .boolean(Self.compareOrdered(op, Self.wides(l, type), Self.wides(r, type), isNull: { $0 == .min }))
        case .text:
            let a = l.asText(left.type), b = r.asText(right.type)
            switch op {
            case .equal: return .boolean(zip(a, b).map { $0 == $1 })
            case .notEqual: return .boolean(zip(a, b).map { $0 != $1 })
            default:
                return .boolean(zip(a, b).map { x, y in
                    guard let x, let y else { return false }
                    return Self.ordered(op, x, y)
                })
            }
        }
    }

    /// `column op constant` without broadcasting the constant: a scalar loop, and for symbols
    /// one dictionary lookup then key comparisons. Nil when no fast path applies.
    private func compareToConstant(_ op: ComparisonOperator, _ left: BoundExpression, _ value: SQLValue) throws(SQLError) -> [Bool]? {
        let type = left.type
        switch (type.representation, value) {
        case (.integer, .integer(let constant)):
            guard case .integer(let values) = try evaluate(left) else { return nil }
            let null = type.integerHasNull ? type.integerNull : nil
            if op == .equal { return values.map { $0 == constant } }
            if op == .notEqual { return values.map { $0 != constant } }
            if constant == null { return Array(repeating: false, count: values.count) }
            var out = [Bool](repeating: false, count: values.count)
            values.withUnsafeBufferPointer { v in
                out.withUnsafeMutableBufferPointer { o in
                    switch op {
                    case .less: for i in v.indices { o[i] = v[i] < constant && v[i] != null }
                    case .lessOrEqual: for i in v.indices { o[i] = v[i] <= constant && v[i] != null }
                    case .greater: for i in v.indices { o[i] = v[i] > constant }
                    case .greaterOrEqual: for i in v.indices { o[i] = v[i] >= constant }
                    case .equal, .notEqual: break
                    }
                }
            }
            return out
        case (.real, .real(let constant)):
            guard case .real(let values) = try evaluate(left) else { return nil }
            switch op {
            case .less: return values.map { $0 < constant }
            case .lessOrEqual: return values.map { $0 <= constant }
            case .greater: return values.map { $0 > constant }
            case .greaterOrEqual: return values.map { $0 >= constant }
            case .equal: return values.map { $0 == constant }
            case .notEqual: return values.map { $0 != constant }
            }
        case (.text, .text(let constant)) where op == .equal || op == .notEqual:
            guard case .symbol(let keys, let table) = try evaluate(left) else { return nil }
            let key = table.keys[constant] ?? -2
            return op == .equal ? keys.map { $0 == key } : keys.map { $0 != key }
        default:
            return nil
        }
    }

    static func compareOrdered<T: Comparable>(_ op: ComparisonOperator, _ a: [T], _ b: [T], isNull: (T) -> Bool) -> [Bool] {
        var out = [Bool](repeating: false, count: a.count)
        switch op {
        case .equal: for i in a.indices { out[i] = a[i] == b[i] }
        case .notEqual: for i in a.indices { out[i] = a[i] != b[i] }
        default:
            for i in a.indices where !isNull(a[i]) && !isNull(b[i]) { out[i] = ordered(op, a[i], b[i]) }
        }
        return out
    }

    @inline(__always)
    static func ordered<T: Comparable>(_ op: ComparisonOperator, _ x: T, _ y: T) -> Bool {
        switch op {
        case .less: x < y
        case .lessOrEqual: x <= y
        case .greater: x > y
        case .greaterOrEqual: x >= y
        case .equal: x == y
        case .notEqual: x != y
        }
    }

    private func inList(_ operand: BoundExpression, _ values: [SQLValue], _ negated: Bool) throws(SQLError) -> ColumnVector {
        let vector = try evaluate(operand)
        switch operand.type.representation {
        case .integer:
            let set = Set(values.compactMap { value -> Int64? in
                if case .integer(let number) = value { return number }
                return value == .null ? operand.type.integerNull : nil
            })
            return .boolean(vector.integers.map { set.contains($0) != negated })
        case .real:
            let set = Set(values.compactMap { value -> Double? in if case .real(let number) = value { return number } else { return nil } })
            let hasNull = values.contains(.null)
            return .boolean(vector.reals.map { (($0.isNaN && hasNull) || set.contains($0)) != negated })
        case .boolean:
            let set = Set(values.compactMap { value -> Bool? in if case .boolean(let flag) = value { return flag } else { return nil } })
            return .boolean(vector.booleans.map { set.contains($0) != negated })
        case .wide:
            let set = Set(values.map { DecimalText.wide($0, operand.type) ?? .min })
            return .boolean(Self.wides(vector, operand.type).map { set.contains($0) != negated })
        case .text:
            let set = Set(values.map { value -> String? in if case .text(let text) = value { return text } else { return nil } })
            if case .symbol(let keys, let table) = vector {
                // Keys of the listed values, looked up once per batch.
                var wanted = Set(set.compactMap { $0.flatMap { table.keys[$0] } })
                if set.contains(nil) { wanted.insert(-1) }
                return .boolean(keys.map { wanted.contains($0) != negated })
            }
            return .boolean(vector.asText(operand.type).map { set.contains($0) != negated })
        }
    }

    private func caseWhen(_ branches: [(BoundExpression, BoundExpression)], _ otherwise: BoundExpression, _ type: SQLType)
        throws(SQLError) -> ColumnVector
    {
        var result = try evaluate(otherwise)
        var decided = [Bool](repeating: false, count: count)
        for (condition, value) in branches {
            let mask = try evaluate(condition).booleans
            let values = try evaluate(value)
            var take = [Bool](repeating: false, count: count)
            for i in 0..<count where mask[i] && !decided[i] {
                take[i] = true
                decided[i] = true
            }
            result = result.merging(values, where: take, type: type)
        }
        return result
    }
}

import Storage

/// `EXPLAIN`: the plan as rows of one `QUERY PLAN` column, indented by depth.
struct Explain {
    let executor: QueryExecutor

    func plan(_ query: SQLQuery) throws(SQLError) -> QueryResult {
        var lines: [String] = []
        try describe(query, depth: 0, into: &lines)
        let vector = ColumnVector.text(lines)
        return QueryResult(
            columns: [.init(name: "QUERY PLAN", type: .string)], batch: ColumnBatch(columns: [vector], count: lines.count),
            timestampIndex: nil)
    }

    private func describe(_ query: SQLQuery, depth: Int, into lines: inout [String]) throws(SQLError) {
        let indent = String(repeating: "    ", count: depth)
        switch query {
        case .with(let names, let body):
            for (name, subquery) in names {
                lines.append(indent + "With: \(name)")
                try describe(subquery, depth: depth + 1, into: &lines)
            }
            try describe(body, depth: depth, into: &lines)
        case .ordered(let inner, let order, _, _):
            lines.append(indent + "Sort keys: [" + order.map { $0.expression.canonical }.joined(separator: ", ") + "]")
            try describe(inner, depth: depth + 1, into: &lines)
        case .pivot(let source, let pivot):
            lines.append(indent + "Pivot")
            try describe(.select(try PivotPlan(executor: executor).rewrite(source, pivot)), depth: depth + 1, into: &lines)
        case .designated(let inner, let column, _):
            lines.append(indent + "Designated timestamp: \(column)")
            try describe(inner, depth: depth + 1, into: &lines)
        case .setOperation(let op, let left, let right, _):
            lines.append(indent + "Set operation: \(op)")
            try describe(left, depth: depth + 1, into: &lines)
            try describe(right, depth: depth + 1, into: &lines)
        case .select(let select):
            var level = depth
            func add(_ text: String) {
                lines.append(String(repeating: "    ", count: level) + text)
                level += 1
            }
            if let limit = select.limit { add("Limit lo: \(limit.first.canonical)" + (limit.second.map { " hi: \($0.canonical)" } ?? "")) }
            if !select.orderBy.isEmpty {
                add("Sort keys: [" + select.orderBy.map { $0.expression.canonical + ($0.descending ? " desc" : "") }.joined(separator: ", ") + "]")
            }
            if select.distinct { add("Distinct") }
            if let sample = select.sampleBy { add("Sample By unit: \(sample.count)\(sample.unit) fill: \(sample.fill.isEmpty ? "none" : "\(sample.fill)")") }
            if select.latestOn != nil { add("LatestBy") }
            if !select.groupBy.isEmpty || select.items.contains(where: { $0.expression.containsAggregate }) {
                add("GroupBy vectorized: true keys: [" + select.groupBy.map(\.canonical).joined(separator: ",") + "]")
            }
            let plan = try executor.sourcePlan(select.from)
            let scope = plan.scope
            let binder = Binder(scope: scope, context: executor.bindingContext)
            let predicate = try select.whereClause.map { (e) throws(SQLError) in try binder.bindPredicate(e) }
            if let whereClause = select.whereClause { add("Filter filter: \(whereClause.canonical)") }
            switch plan {
            case .table(let snapshot, _):
                if let intervals = scope.timestampIndex.flatMap({ predicate?.timestampIntervals($0) }) {
                    add("Interval forward scan on: \(snapshot.schema.name)")
                    let text = intervals.map { "(\(Self.instant($0.lowerBound)),\(Self.instant($0.upperBound - 1)))" }
                    lines.append(String(repeating: "    ", count: level) + "intervals: [" + text.joined(separator: ",") + "]")
                } else {
                    add("Frame forward scan on: \(snapshot.schema.name)")
                }
            case .materialized: add("Materialized subquery")
            case .joined: add("Hash or time-series join of materialised inputs")
            case .longSequence(let count, _): add("long_sequence count: \(count)")
            case .single: add("VirtualRecord")
            }
        }
    }

    private static func instant(_ value: Int64) -> String {
        value <= Int64.min + 1 || value >= Int64.max - 1 ? "MIN/MAX" : "\"" + TimestampText.micros(value) + "\""
    }
}

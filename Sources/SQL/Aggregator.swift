import Storage

/// One aggregate over groups: state arrays indexed by group id, updated a batch at a time
/// with one typed loop per batch.
struct Aggregator {
    let kind: AggregateKind
    let inputType: SQLType
    let outputType: SQLType
    /// `string_agg` separator.
    var separator = ","
    /// The X of a two-argument aggregate (Y is the first argument).
    var secondArgument: BoundExpression?
    /// `approx_percentile`'s p (0…1).
    var percentile = 0.5
    /// `approx_percentile`: each group's values.
    private var samples: [[Double]] = []
    /// Bytes of values held for `approx_percentile` (the memory cap counts them).
    private(set) var heldBytes = 0

    private var counts: [Int64] = []
    private var integers: [Int64] = []
    private var reals: [Double] = []
    private var compensations: [Double] = []
    private var means: [Double] = []
    private var texts: [String?] = []
    /// Decimal sums (of any width) and wide decimals' min/max/first/last; an overflowed sum
    /// is `Int256.min`, which stays NULL.
    private var wides: [Int256] = []
    private var seen: [Bool] = []
    private var distinct: [Set<Int64>] = []
    private var symbolTable: SymbolTable?
    private var atomizer: KeyAtomizer
    /// Two-argument statistics (Welford): means of Y (`means`) and X, sums of squared
    /// deviations of X and Y, and the co-moment.
    private var meansX: [Double] = []
    private var squaresX: [Double] = []
    private var squaresY: [Double] = []
    private var coMoments: [Double] = []

    init(kind: AggregateKind, inputType: SQLType) {
        self.kind = kind
        self.inputType = inputType
        self.outputType = Self.outputType(kind, inputType)
        self.atomizer = KeyAtomizer(type: inputType)
    }

    static func outputType(_ kind: AggregateKind, _ input: SQLType) -> SQLType {
        switch kind {
        case .countAll, .count, .countDistinct: .long
        case .sum: sumType(input)
        case .kahanSum, .avg, .stddevSample, .stddevPopulation, .varianceSample, .variancePopulation, .approxPercentile: .double
        case .regrCount: .long
        case .covarSample, .covarPopulation, .correlation, .regrAvgX, .regrAvgY, .regrSXX, .regrSYY, .regrSXY, .regrSlope,
             .regrIntercept, .regrR2:
            .double
        case .min, .max, .first, .last: input == .null ? .string : input
        case .stringAgg: .string
        }
    }

    /// DOUBLE over reals, LONG over integers; a DECIMAL's exact sum has 38 digits (76 past 38).
    private static func sumType(_ input: SQLType) -> SQLType {
        if let (precision, scale) = input.isDecimal ? input.decimalShape : nil {
            return .decimal(precision: precision <= 38 ? 38 : ColumnType.maxDecimalPrecision, scale: scale)
        }
        return input.representation == .real || input == .null ? .double : .long
    }

    /// Whether the input type is one this aggregate accepts.
    static func accepts(_ kind: AggregateKind, _ input: SQLType) -> Bool {
        switch kind {
        case .countAll, .count, .countDistinct, .first, .last, .min, .max, .stringAgg: true
        case .sum: input.isNumeric || input.isDecimal || input == .null
        case .kahanSum, .avg, .stddevSample, .stddevPopulation, .varianceSample, .variancePopulation:
            input.isNumeric || input == .null
        default:
            input.isNumeric || input == .null
        }
    }

    private mutating func resize(_ groups: Int) {
        guard counts.count < groups else { return }
        let extra = groups - counts.count
        counts.append(contentsOf: repeatElement(0, count: extra))
        seen.append(contentsOf: repeatElement(false, count: extra))
        switch kind {
        case .countAll, .count: break
        case .countDistinct: distinct.append(contentsOf: repeatElement([], count: extra))
        case .stringAgg: texts.append(contentsOf: repeatElement(nil, count: extra))
        case .sum where inputType.isDecimal: wides.append(contentsOf: repeatElement(.zero, count: extra))
        case .approxPercentile: samples.append(contentsOf: repeatElement([], count: extra))
        case .stddevSample, .stddevPopulation, .varianceSample, .variancePopulation:
            means.append(contentsOf: repeatElement(0, count: extra))
            reals.append(contentsOf: repeatElement(0, count: extra))
        case .covarSample, .covarPopulation, .correlation, .regrCount, .regrAvgX, .regrAvgY, .regrSXX, .regrSYY, .regrSXY, .regrSlope,
             .regrIntercept, .regrR2:
            means.append(contentsOf: repeatElement(0, count: extra))
            meansX.append(contentsOf: repeatElement(0, count: extra))
            squaresX.append(contentsOf: repeatElement(0, count: extra))
            squaresY.append(contentsOf: repeatElement(0, count: extra))
            coMoments.append(contentsOf: repeatElement(0, count: extra))
        default:
            switch inputType.representation {
            case .integer, .boolean: integers.append(contentsOf: repeatElement(0, count: extra))
            case .real:
                reals.append(contentsOf: repeatElement(0, count: extra))
                compensations.append(contentsOf: repeatElement(0, count: extra))
            case .text:
                integers.append(contentsOf: repeatElement(-1, count: extra))
                texts.append(contentsOf: repeatElement(nil, count: extra))
            case .wide: wides.append(contentsOf: repeatElement(.min, count: extra))
            }
            if kind == .kahanSum || kind == .avg {
                if reals.count < groups { reals.append(contentsOf: repeatElement(0, count: groups - reals.count)) }
                if compensations.count < groups { compensations.append(contentsOf: repeatElement(0, count: groups - compensations.count)) }
            }
        }
    }

    /// Adds (Y, X) pairs; a pair with a NULL side is skipped.
    mutating func update(groups: [Int32], groupCount: Int, y: ColumnVector, x: ColumnVector, xType: SQLType) {
        resize(groupCount)
        let yNulls = y.nullMask(inputType), xNulls = x.nullMask(xType)
        let ys = y.reals, xs = x.reals
        for (row, group) in groups.enumerated() where !yNulls[row] && !xNulls[row] {
            let g = Int(group)
            counts[g] += 1
            let n = Double(counts[g])
            let dx = xs[row] - meansX[g]
            let dy = ys[row] - means[g]
            meansX[g] += dx / n
            means[g] += dy / n
            squaresX[g] += dx * (xs[row] - meansX[g])
            squaresY[g] += dy * (ys[row] - means[g])
            coMoments[g] += dx * (ys[row] - means[g])
        }
    }

    mutating func update(groups: [Int32], groupCount: Int, values: ColumnVector?) {
        resize(groupCount)
        guard let values, kind != .countAll else {
            if groupCount == 1 {
                counts[0] += Int64(groups.count)
            } else {
                counts.withUnsafeMutableBufferPointer { c in for group in groups { c[Int(group)] += 1 } }
            }
            return
        }
        if updateFast(groups, values) { return }
        let nulls = values.nullMask(inputType)
        switch kind {
        case .countAll:
            for group in groups { counts[Int(group)] += 1 }
        case .count:
            for (row, group) in groups.enumerated() where !nulls[row] { counts[Int(group)] += 1 }
        case .countDistinct:
            let atoms = atomizer.atoms(values)
            for (row, group) in groups.enumerated() where !nulls[row] { distinct[Int(group)].insert(atoms[row]) }
        case .sum where inputType.isDecimal:
            let input = ExpressionEvaluator.wides(values, inputType)
            for (row, group) in groups.enumerated() where !nulls[row] {
                let g = Int(group)
                seen[g] = true
                guard wides[g] != .min else { continue }
                let (total, overflow) = wides[g].addingReportingOverflow(input[row])
                wides[g] = overflow ? .min : total
            }
        case .sum where inputType.representation == .integer:
            let input = values.integers
            for (row, group) in groups.enumerated() where !nulls[row] {
                integers[Int(group)] &+= input[row]
                seen[Int(group)] = true
            }
        case .avg where inputType.representation == .integer:
            // Integer inputs sum exactly in 64 bits; the division happens once per group.
            let input = values.integers
            for (row, group) in groups.enumerated() where !nulls[row] {
                let g = Int(group)
                integers[g] &+= input[row]
                counts[g] += 1
            }
        case .sum, .avg:
            let input = values.reals
            for (row, group) in groups.enumerated() where !nulls[row] {
                let g = Int(group)
                reals[g] += input[row]
                counts[g] += 1
                seen[g] = true
            }
        case .kahanSum:
            let input = values.reals
            for (row, group) in groups.enumerated() where !nulls[row] {
                let g = Int(group)
                // Kahan–Neumaier summation (QuestDB's ksum) keeps long sums of doubles accurate.
                let value = input[row]
                let total = reals[g] + value
                compensations[g] += Swift.abs(reals[g]) >= Swift.abs(value) ? (reals[g] - total) + value : (value - total) + reals[g]
                reals[g] = total
                counts[g] += 1
                seen[g] = true
            }
        case .stddevSample, .stddevPopulation, .varianceSample, .variancePopulation:
            let input = values.reals
            for (row, group) in groups.enumerated() where !nulls[row] {
                let g = Int(group)
                counts[g] += 1
                let delta = input[row] - means[g]
                means[g] += delta / Double(counts[g])
                reals[g] += delta * (input[row] - means[g])
            }
        case .min, .max, .first, .last:
            updateSelection(groups, values, nulls)
        case .approxPercentile:
            let input = values.reals
            var added = 0
            for (row, group) in groups.enumerated() where !nulls[row] {
                samples[Int(group)].append(input[row])
                added += 1
            }
            heldBytes += added * 8
        case .stringAgg:
            let input = values.asText(inputType)
            for (row, group) in groups.enumerated() {
                guard let text = input[row] else { continue }
                let g = Int(group)
                texts[g] = texts[g].map { $0 + separator + text } ?? text
            }
        default:
            preconditionFailure("\(kind) takes two arguments")
        }
    }

    /// Tight loops over raw buffers for the hot aggregates (sum, avg, min, max, count of numbers);
    /// NULL is checked inline against the type's sentinel. False when another path must run.
    private mutating func updateFast(_ groups: [Int32], _ values: ColumnVector) -> Bool {
        switch values {
        case .integer(let input) where inputType.isNumeric || inputType.isTemporal || (inputType.isDecimal && kind != .sum):
            let null = inputType.integerHasNull ? inputType.integerNull : nil
            switch kind {
            case .count: Self.countLoop(input, groups, isNull: { $0 == null }, counts: &counts)
            case .sum, .avg:
                Self.sumLoop(input, groups, isNull: { $0 == null }, sums: &integers, counts: &counts, seen: &seen, add: { $0 &+ $1 })
            case .min, .max: Self.extremeLoop(input, groups, isNull: { $0 == null }, isMax: kind == .max, state: &integers, seen: &seen)
            default: return false
            }
            return true
        case .real(let input):
            switch kind {
            case .count: Self.countLoop(input, groups, isNull: { $0.isNaN }, counts: &counts)
            case .sum, .avg: Self.sumLoop(input, groups, isNull: { $0.isNaN }, sums: &reals, counts: &counts, seen: &seen, add: { $0 + $1 })
            case .min, .max: Self.extremeLoop(input, groups, isNull: { $0.isNaN }, isMax: kind == .max, state: &reals, seen: &seen)
            default: return false
            }
            return true
        default:
            return false
        }
    }

    private static func countLoop<T>(_ input: [T], _ groups: [Int32], isNull: (T) -> Bool, counts: inout [Int64]) {
        counts.withUnsafeMutableBufferPointer { c in
            for (row, group) in groups.enumerated() where !isNull(input[row]) { c[Int(group)] += 1 }
        }
    }

    private static func sumLoop<T>(
        _ input: [T], _ groups: [Int32], isNull: (T) -> Bool, sums: inout [T], counts: inout [Int64], seen: inout [Bool],
        add: (T, T) -> T
    ) {
        input.withUnsafeBufferPointer { v in
            sums.withUnsafeMutableBufferPointer { s in
                counts.withUnsafeMutableBufferPointer { c in
                    seen.withUnsafeMutableBufferPointer { flags in
                        for (row, group) in groups.enumerated() where !isNull(v[row]) {
                            let g = Int(group)
                            s[g] = add(s[g], v[row])
                            c[g] += 1
                            flags[g] = true
                        }
                    }
                }
            }
        }
    }

    private static func extremeLoop<T: Comparable>(
        _ input: [T], _ groups: [Int32], isNull: (T) -> Bool, isMax: Bool, state: inout [T], seen: inout [Bool]
    ) {
        input.withUnsafeBufferPointer { v in
            state.withUnsafeMutableBufferPointer { current in
                seen.withUnsafeMutableBufferPointer { flags in
                    for (row, group) in groups.enumerated() where !isNull(v[row]) {
                        let g = Int(group)
                        let value = v[row]
                        if !flags[g] || (isMax ? value > current[g] : value < current[g]) {
                            current[g] = value
                            flags[g] = true
                        }
                    }
                }
            }
        }
    }

    /// min/max/first/last keep one value per group (first/last also keep NULLs, as QuestDB does).
    private mutating func updateSelection(_ groups: [Int32], _ values: ColumnVector, _ nulls: [Bool]) {
        let keepsNull = kind == .first || kind == .last
        switch inputType.representation {
        case .integer, .boolean:
            Self.keep(values.integers, groups, nulls, kind: kind, keepsNull: keepsNull, state: &integers, seen: &seen, less: <)
        case .real:
            Self.keep(values.reals, groups, nulls, kind: kind, keepsNull: keepsNull, state: &reals, seen: &seen, less: <)
        case .wide:
            Self.keep(ExpressionEvaluator.wides(values, inputType), groups, nulls, kind: kind, keepsNull: keepsNull, state: &wides,
                      seen: &seen, less: <)
        case .text:
            if case .symbol(let keys, let table) = values, kind == .first || kind == .last {
                symbolTable = table
                Self.keep(keys.map { Int64($0) }, groups, nulls, kind: kind, keepsNull: true, state: &integers, seen: &seen, less: <)
                return
            }
            // NULLs are skipped for min/max, so compared values are never nil.
            Self.keep(values.asText(inputType), groups, nulls, kind: kind, keepsNull: keepsNull, state: &texts, seen: &seen) { $0! < $1! }
        }
    }

    /// One value per group: the first, the last, the least or the greatest seen.
    private static func keep<T>(
        _ input: [T], _ groups: [Int32], _ nulls: [Bool], kind: AggregateKind, keepsNull: Bool, state: inout [T], seen: inout [Bool],
        less: (T, T) -> Bool
    ) {
        for (row, group) in groups.enumerated() {
            let g = Int(group)
            if nulls[row] && !keepsNull { continue }
            if seen[g] {
                switch kind {
                case .first: continue
                case .min: if !less(input[row], state[g]) { continue }
                case .max: if !less(state[g], input[row]) { continue }
                default: break
                }
            }
            state[g] = input[row]
            seen[g] = true
        }
    }

    /// Takes per-group states computed elsewhere (`DirectAggregation`): for each group the
    /// number of non-NULL values, and their integer or real total (sum, avg) or extreme (min,
    /// max). Only those kinds, over integer or real inputs.
    mutating func load(counts: [Int64], integers: [Int64], reals: [Double]) {
        precondition([.countAll, .count, .sum, .avg, .min, .max].contains(kind), "load of \(kind)")
        self.counts = counts
        seen = counts.map { $0 > 0 }
        self.integers = integers
        self.reals = reals.isEmpty ? Array(repeating: 0, count: counts.count) : reals
        compensations = Array(repeating: 0, count: counts.count)
    }

    /// Adds `count` rows to a one-group `count(*)`.
    mutating func addCount(_ count: Int64) {
        resize(1)
        counts[0] += count
    }

    /// Whether states of two scans can be merged (distinct sets and string concatenation
    /// depend on one scan's order and dictionaries).
    var isMergeable: Bool { kind != .countDistinct && kind != .stringAgg }

    /// Adds the states of `other` — an aggregate over rows after this one's — with its group
    /// `g` going to `mapping[g]` here.
    mutating func merge(_ other: Aggregator, mapping: [Int32], groupCount: Int) {
        precondition(isMergeable, "merge of \(kind)")
        resize(groupCount)
        for (source, target) in mapping.enumerated() where source < other.counts.count {
            let g = Int(target)
            counts[g] += other.counts[source]
            switch kind {
            case .countAll, .count, .countDistinct, .stringAgg:
                break
            case .approxPercentile:
                samples[g].append(contentsOf: other.samples[source])
                heldBytes += other.samples[source].count * 8
            case .sum where inputType.isDecimal:
                let (total, overflow) = wides[g].addingReportingOverflow(other.wides[source])
                wides[g] = overflow || wides[g] == .min || other.wides[source] == .min ? .min : total
                seen[g] = seen[g] || other.seen[source]
            case .sum, .avg, .kahanSum:
                if inputType.representation == .integer && kind != .kahanSum {
                    integers[g] &+= other.integers[source]
                } else {
                    reals[g] += other.reals[source]
                    if kind == .kahanSum { compensations[g] += other.compensations[source] }
                }
                seen[g] = seen[g] || other.seen[source]
            case .stddevSample, .stddevPopulation, .varianceSample, .variancePopulation:
                // Chan et al.: combine counts, means and sums of squared deviations.
                let n1 = Double(counts[g] - other.counts[source]), n2 = Double(other.counts[source])
                guard n2 > 0 else { continue }
                let delta = other.means[source] - means[g]
                let n = n1 + n2
                reals[g] += other.reals[source] + delta * delta * n1 * n2 / n
                means[g] += delta * n2 / n
            case .covarSample, .covarPopulation, .correlation, .regrCount, .regrAvgX, .regrAvgY, .regrSXX, .regrSYY, .regrSXY, .regrSlope,
                 .regrIntercept, .regrR2:
                // Chan et al. for two variables: means, squared deviations and the co-moment.
                let n1 = Double(counts[g] - other.counts[source]), n2 = Double(other.counts[source])
                guard n2 > 0 else { continue }
                let n = n1 + n2
                let dx = other.meansX[source] - meansX[g], dy = other.means[source] - means[g]
                squaresX[g] += other.squaresX[source] + dx * dx * n1 * n2 / n
                squaresY[g] += other.squaresY[source] + dy * dy * n1 * n2 / n
                coMoments[g] += other.coMoments[source] + dx * dy * n1 * n2 / n
                meansX[g] += dx * n2 / n
                means[g] += dy * n2 / n
            case .min, .max, .first, .last:
                guard other.seen[source] else { continue }
                let take: Bool
                switch kind {
                case .first: take = !seen[g]
                case .last: take = true
                default: take = !seen[g] || betterSelection(other, source, than: g)
                }
                guard take else { continue }
                switch inputType.representation {
                case .integer, .boolean: integers[g] = other.integers[source]
                case .real: reals[g] = other.reals[source]
                case .wide: wides[g] = other.wides[source]
                case .text:
                    if let table = other.symbolTable {
                        symbolTable = table
                        integers[g] = other.integers[source]
                    } else {
                        texts[g] = other.texts[source]
                    }
                }
                seen[g] = true
            }
        }
    }

    /// A two-argument statistic of group `g`, NULL (NaN) where PostgreSQL gives NULL.
    private func bivariate(group g: Int) -> Double {
        let n = Double(counts[g])
        guard n > 0 else { return .nan }
        let (sxx, syy, sxy) = (squaresX[g], squaresY[g], coMoments[g])
        switch kind {
        case .covarPopulation: return sxy / n
        case .covarSample: return n > 1 ? sxy / (n - 1) : .nan
        case .correlation: return sxx == 0 || syy == 0 ? .nan : sxy / (sxx * syy).squareRoot()
        case .regrAvgX: return meansX[g]
        case .regrAvgY: return means[g]
        case .regrSXX: return sxx
        case .regrSYY: return syy
        case .regrSXY: return sxy
        case .regrSlope: return sxx == 0 ? .nan : sxy / sxx
        case .regrIntercept: return sxx == 0 ? .nan : means[g] - sxy / sxx * meansX[g]
        case .regrR2: return sxx == 0 ? .nan : syy == 0 ? 1 : sxy * sxy / (sxx * syy)
        default: return .nan
        }
    }

    /// Whether `other`'s value of group `source` beats this one's of `g` for min/max.
    private func betterSelection(_ other: Aggregator, _ source: Int, than g: Int) -> Bool {
        let isMax = kind == .max
        switch inputType.representation {
        case .integer, .boolean:
            return isMax ? other.integers[source] > integers[g] : other.integers[source] < integers[g]
        case .real:
            return isMax ? other.reals[source] > reals[g] : other.reals[source] < reals[g]
        case .wide:
            return isMax ? other.wides[source] > wides[g] : other.wides[source] < wides[g]
        case .text:
            guard let mine = texts[g], let theirs = other.texts[source] else { return texts[g] == nil }
            return isMax ? theirs > mine : theirs < mine
        }
    }

    /// The aggregate of every group, in group order.
    mutating func result(groupCount: Int) -> ColumnVector {
        resize(groupCount)
        switch kind {
        case .countAll, .count: return .integer(Array(counts.prefix(groupCount)))
        case .countDistinct: return .integer(distinct.prefix(groupCount).map { Int64($0.count) })
        case .sum where inputType.isDecimal:
            guard case .column(.decimal(let precision, _)) = outputType else { return .nulls(outputType, count: groupCount) }
            return .wide((0..<groupCount).map { seen[$0] && WideDecimal.fits(wides[$0], precision: precision) ? wides[$0] : .min })
        case .sum where inputType.representation == .integer:
            return .integer((0..<groupCount).map { seen[$0] ? integers[$0] : Int64.min })
        case .sum:
            return .real((0..<groupCount).map { seen[$0] ? reals[$0] : .nan })
        case .kahanSum:
            return .real((0..<groupCount).map { seen[$0] ? reals[$0] + compensations[$0] : .nan })
        case .avg where inputType.representation == .integer:
            return .real((0..<groupCount).map { counts[$0] > 0 ? Double(integers[$0]) / Double(counts[$0]) : .nan })
        case .avg:
            return .real((0..<groupCount).map { counts[$0] > 0 ? reals[$0] / Double(counts[$0]) : .nan })
        case .stddevSample, .varianceSample:
            return .real((0..<groupCount).map { g in
                guard counts[g] > 1 else { return .nan }
                let variance = reals[g] / Double(counts[g] - 1)
                return kind == .stddevSample ? variance.squareRoot() : variance
            })
        case .stddevPopulation, .variancePopulation:
            return .real((0..<groupCount).map { g in
                guard counts[g] > 0 else { return .nan }
                let variance = reals[g] / Double(counts[g])
                return kind == .stddevPopulation ? variance.squareRoot() : variance
            })
        case .stringAgg:
            return .text(Array(texts.prefix(groupCount)))
        case .regrCount:
            return .integer(Array(counts.prefix(groupCount)))
        case .approxPercentile:
            return .real((0..<groupCount).map { g in
                guard !samples[g].isEmpty else { return .nan }
                let sorted = samples[g].sorted()
                let rank = Int((percentile * Double(sorted.count)).rounded(.up))
                return sorted[min(max(rank - 1, 0), sorted.count - 1)]
            })
        case .covarSample, .covarPopulation, .correlation, .regrAvgX, .regrAvgY, .regrSXX, .regrSYY, .regrSXY, .regrSlope,
             .regrIntercept, .regrR2:
            return .real((0..<groupCount).map { bivariate(group: $0) })
        case .min, .max, .first, .last:
            switch inputType.representation {
            case .integer: return .integer((0..<groupCount).map { seen[$0] ? integers[$0] : inputType.integerNull })
            case .boolean: return .boolean((0..<groupCount).map { seen[$0] && integers[$0] != 0 })
            case .real: return .real((0..<groupCount).map { seen[$0] ? reals[$0] : .nan })
            case .wide: return .wide((0..<groupCount).map { seen[$0] ? wides[$0] : .min })
            case .text:
                if let symbolTable { return .symbol((0..<groupCount).map { seen[$0] ? Int32(integers[$0]) : -1 }, symbolTable) }
                return .text(Array(texts.prefix(groupCount)))
            }
        }
    }
}

/// The frame of every row of one window partition, as positions in partition order: ROWS
/// frames count rows, RANGE frames measure distances in the (single) ORDER BY key and take
/// the current row's peers along (PostgreSQL's semantics; QuestDB treats peers as distinct
/// rows, a known bug of theirs).
struct Frames {
    /// The ORDER BY key of a RANGE frame with offsets, ascending (a descending key negated).
    enum Keys {
        case integers([Int64], isNull: [Bool])
        case reals([Double], isNull: [Bool])
    }

    let spec: WindowFrame?
    /// Without a frame clause: nil for the whole partition, else (ORDER BY) the last peer of
    /// each position — the default frame ends there.
    let defaultEnd: [Int]?
    let firstPeer: [Int]
    let lastPeer: [Int]
    let keys: Keys?
    /// Positions whose key is not NULL (NULL keys sort together at one end).
    private let valued: ClosedRange<Int>?

    init(spec: WindowFrame?, defaultEnd: [Int]?, firstPeer: [Int], lastPeer: [Int], keys: Keys?) {
        self.spec = spec
        self.defaultEnd = defaultEnd
        self.firstPeer = firstPeer
        self.lastPeer = lastPeer
        self.keys = keys
        var valued: ClosedRange<Int>?
        let isNull: [Bool]? = switch keys {
        case .integers(_, let isNull)?, .reals(_, let isNull)?: isNull
        case nil: nil
        }
        if let isNull, let low = isNull.firstIndex(of: false), let high = isNull.lastIndex(of: false) { valued = low...high }
        self.valued = valued
    }

    var count: Int { firstPeer.count }
    var excludesCurrentRow: Bool { spec?.excludeCurrentRow ?? false }

    /// Positions [low, high] of the frame of `position` (EXCLUDE CURRENT ROW not applied);
    /// nil when the frame is empty.
    func range(_ position: Int) -> ClosedRange<Int>? {
        guard let spec else { return 0...(defaultEnd?[position] ?? count - 1) }
        let low = max(0, bound(spec.start, position, isStart: true, spec.unit))
        let high = min(count - 1, bound(spec.end, position, isStart: false, spec.unit))
        return low <= high ? low...high : nil
    }

    private func bound(_ bound: WindowFrame.Bound, _ position: Int, isStart: Bool, _ unit: WindowFrame.Unit) -> Int {
        switch bound {
        case .unboundedPreceding: return 0
        case .unboundedFollowing: return count - 1
        case .currentRow: return unit == .rows ? position : isStart ? firstPeer[position] : lastPeer[position]
        case .preceding(let n), .following(let n):
            let delta: Int64 = if case .preceding = bound { 0 &- n } else { n }
            if unit == .rows { return Int(clamping: Int64(position).addingReportingOverflow(delta).partialValue) }
            return rangeBound(delta, position, isStart: isStart)
        }
    }

    /// Where a RANGE bound `delta` away from the row's key falls, searched among the valued keys:
    /// the first position whose key reaches it (a start; one past them when none does) or the
    /// last one not past it (an end; one before them when none is). A row with a NULL key has its
    /// NULL peers as the frame, as in PostgreSQL.
    private func rangeBound(_ delta: Int64, _ position: Int, isStart: Bool) -> Int {
        guard let keys, let valued else { return isStart ? firstPeer[position] : lastPeer[position] }
        switch keys {
        case .integers(let values, let isNull):
            if isNull[position] { return isStart ? firstPeer[position] : lastPeer[position] }
            let (sum, overflow) = values[position].addingReportingOverflow(delta)
            let target = overflow ? (delta < 0 ? Int64.min : Int64.max) : sum
            return isStart ? values[valued].partitioningIndex { $0 >= target } : values[valued].partitioningIndex { $0 > target } - 1
        case .reals(let values, let isNull):
            if isNull[position] { return isStart ? firstPeer[position] : lastPeer[position] }
            let target = values[position] + Double(delta)
            return isStart ? values[valued].partitioningIndex { $0 >= target } : values[valued].partitioningIndex { $0 > target } - 1
        }
    }
}

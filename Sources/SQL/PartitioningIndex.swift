extension RandomAccessCollection where Index == Int {
    /// The first index whose element satisfies `isPast`, which must be false for a prefix of the
    /// collection and true for the rest (a binary search); `endIndex` when none does.
    func partitioningIndex(where isPast: (Element) -> Bool) -> Int {
        var low = startIndex, high = endIndex
        while low < high {
            let middle = (low + high) / 2
            if isPast(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}

/// Frame-of-reference narrowing of one fixed-width integer column, as WAL batch format 3
/// stores it (decision 0034): each value minus the column's smallest becomes a code of 1, 2 or
/// 4 bytes, whichever is the narrowest that holds the column's span. The width's smallest value
/// (QuestDB's NULL of INT, LONG, TIMESTAMP…) takes the all-ones code instead, so NULLs do not
/// widen a column. TSBS rows: ten LONG fields of 0–100 in a byte each, ten SYMBOL keys in one
/// or two (the host's 1 000 values need two), the timestamp in four — 26 bytes a row in the WAL
/// with its headers and dictionaries, instead of 129.
///
/// Pure functions over little-endian bytes; values and codes may be unaligned (codes sit at any
/// offset of a WAL payload).
package struct NarrowPlan: Equatable, Sendable {
    /// Bytes per code: 1, 2 or 4; 0 stores the values as they are (the span is too wide, or
    /// no code is narrower than the values).
    package let codeWidth: Int
    /// What a code of 0 stands for.
    package let base: Int64

    package static let raw = NarrowPlan(codeWidth: 0, base: 0)

    package init(codeWidth: Int, base: Int64) {
        self.codeWidth = codeWidth
        self.base = base
    }

    /// Whether a column of `width` bytes can be decoded with this plan (a payload's plan is
    /// checked before any code is read).
    package func isValid(forWidth width: Int) -> Bool {
        codeWidth == 0 || ((codeWidth == 1 || codeWidth == 2 || codeWidth == 4) && codeWidth < width)
    }

    /// The narrowest plan for the `width`-byte values in `values` (2, 4 or 8 bytes each).
    package static func choose(_ values: UnsafeRawBufferPointer, width: Int) -> NarrowPlan {
        switch width {
        case 2: choose(values, as: Int16.self)
        case 4: choose(values, as: Int32.self)
        case 8: choose(values, as: Int64.self)
        default: .raw
        }
    }

    private static func choose<T: FixedWidthInteger & SignedInteger>(_ values: UnsafeRawBufferPointer, as: T.Type) -> NarrowPlan {
        let count = values.count / MemoryLayout<T>.size
        guard count > 0 else { return .raw }
        // Branch-free so the loop vectorizes: the escape value never lowers `low` and raises
        // `high` only when every value is the escape.
        var low = Int64.max
        var high = Int64.min
        for index in 0..<count {
            let value = T(littleEndian: values.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self))
            let wide = Int64(value)
            low = Swift.min(low, value == T.min ? Int64.max : wide)
            high = Swift.max(high, wide)
        }
        guard low <= high else { return NarrowPlan(codeWidth: 1, base: 0) }  // all escapes
        let span = UInt64(bitPattern: high &- low)
        for codeWidth in [1, 2, 4] where codeWidth < MemoryLayout<T>.size {
            // The all-ones code is the escape: the span must stay below it.
            if span < (UInt64(1) << UInt64(8 * codeWidth)) - 1 { return NarrowPlan(codeWidth: codeWidth, base: low) }
        }
        return .raw
    }

    /// Writes the codes of the `width`-byte `values` to `codes` (`count × codeWidth` bytes).
    package func narrow(_ values: UnsafeRawBufferPointer, width: Int, into codes: UnsafeMutableRawPointer) {
        switch (width, codeWidth) {
        case (2, 1): narrow(values, Int16.self, UInt8.self, codes)
        case (4, 1): narrow(values, Int32.self, UInt8.self, codes)
        case (4, 2): narrow(values, Int32.self, UInt16.self, codes)
        case (8, 1): narrow(values, Int64.self, UInt8.self, codes)
        case (8, 2): narrow(values, Int64.self, UInt16.self, codes)
        case (8, 4): narrow(values, Int64.self, UInt32.self, codes)
        default: preconditionFailure("no narrowing of \(width)-byte values into \(codeWidth)-byte codes")
        }
    }

    @inline(__always)
    private func narrow<T: FixedWidthInteger & SignedInteger, C: FixedWidthInteger & UnsignedInteger>(
        _ values: UnsafeRawBufferPointer, _: T.Type, _: C.Type, _ codes: UnsafeMutableRawPointer
    ) {
        let count = values.count / MemoryLayout<T>.size
        for index in 0..<count {
            let value = T(littleEndian: values.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self))
            let code = value == T.min ? C.max : C(truncatingIfNeeded: Int64(value) &- base)
            codes.storeBytes(of: code.littleEndian, toByteOffset: index * MemoryLayout<C>.size, as: C.self)
        }
    }

    /// Writes the `width`-byte values of `count` codes to `values`.
    package func widen(_ codes: UnsafeRawBufferPointer, count: Int, width: Int, into values: UnsafeMutableRawPointer) {
        precondition(codes.count >= count * codeWidth, "fewer codes than values")
        switch (width, codeWidth) {
        case (2, 1): widen(codes, count, Int16.self, UInt8.self, values)
        case (4, 1): widen(codes, count, Int32.self, UInt8.self, values)
        case (4, 2): widen(codes, count, Int32.self, UInt16.self, values)
        case (8, 1): widen(codes, count, Int64.self, UInt8.self, values)
        case (8, 2): widen(codes, count, Int64.self, UInt16.self, values)
        case (8, 4): widen(codes, count, Int64.self, UInt32.self, values)
        default: preconditionFailure("no widening of \(codeWidth)-byte codes into \(width)-byte values")
        }
    }

    @inline(__always)
    private func widen<T: FixedWidthInteger & SignedInteger, C: FixedWidthInteger & UnsignedInteger>(
        _ codes: UnsafeRawBufferPointer, _ count: Int, _: T.Type, _: C.Type, _ values: UnsafeMutableRawPointer
    ) {
        for index in 0..<count {
            let code = C(littleEndian: codes.loadUnaligned(fromByteOffset: index * MemoryLayout<C>.size, as: C.self))
            // A damaged payload (its CRC failing to catch it) wraps rather than traps.
            let value = code == C.max ? T.min : T(truncatingIfNeeded: base &+ Int64(code))
            values.storeBytes(of: value.littleEndian, toByteOffset: index * MemoryLayout<T>.size, as: T.self)
        }
    }
}

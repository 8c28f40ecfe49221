/// How a DOUBLE[] value is stored (and travels in the WAL): the same shape-then-values layout
/// ILP v2 sends arrays in, so ingestion copies bytes instead of converting them.
///
/// Layout (little-endian): dimensions u8 (1…32), then one u32 length per dimension, then the
/// product of the lengths as f64 values, row-major. NULL is the var-size NULL, not an encoding.
package enum DoubleArrayValue {
    package static let maxDimensions = 32

    package static func encode(shape: [Int], values: [Double]) -> [UInt8] {
        precondition((1...maxDimensions).contains(shape.count), "an array has 1 to \(maxDimensions) dimensions")
        precondition(shape.reduce(1, *) == values.count, "shape and value count disagree")
        var bytes: [UInt8] = [UInt8(shape.count)]
        for length in shape { bytes.appendLittleEndian(UInt32(length)) }
        for value in values { bytes.appendLittleEndian(value.bitPattern) }
        return bytes
    }

    /// The shape and values, or `nil` when the bytes are not a valid encoding with `dimensions`.
    package static func decode(_ bytes: UnsafeRawBufferPointer, dimensions: Int) -> (shape: [Int], values: [Double])? {
        guard validate(bytes, dimensions: dimensions) == nil else { return nil }
        let count = Int(bytes[0])
        var shape: [Int] = []
        for index in 0..<count { shape.append(Int(bytes.loadLittleEndian(fromByteOffset: 1 + index * 4, as: UInt32.self))) }
        let start = 1 + count * 4
        let values = (0..<shape.reduce(1, *)).map {
            Double(bitPattern: bytes.loadLittleEndian(fromByteOffset: start + $0 * 8, as: UInt64.self))
        }
        return (shape, values)
    }

    /// Why `bytes` are not a valid array of `dimensions` dimensions, or `nil` when they are.
    package static func validate(_ bytes: UnsafeRawBufferPointer, dimensions: Int) -> String? {
        guard let count = bytes.first.map(Int.init), count == dimensions else {
            return "array has \(bytes.first.map { "\($0)" } ?? "no") dimensions, the column \(dimensions)"
        }
        guard bytes.count >= 1 + count * 4 else { return "array shape is truncated" }
        var elements = 1
        for index in 0..<count {
            let length = Int(bytes.loadLittleEndian(fromByteOffset: 1 + index * 4, as: UInt32.self))
            let (product, overflow) = elements.multipliedReportingOverflow(by: length)
            guard !overflow else { return "array shape overflows" }
            elements = product
        }
        guard bytes.count == 1 + count * 4 + elements * 8 else {
            return "array holds \(bytes.count - 1 - count * 4) value bytes, its shape needs \(elements * 8)"
        }
        return nil
    }
}

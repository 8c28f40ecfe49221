import Storage

extension DecimalValue {
    /// `-12.50` for (−1250, 2).
    package static func append(_ scaled: Int64, scale: Int, to out: inout [UInt8]) {
        if scaled < 0 { out.append(UInt8(ascii: "-")) }
        let magnitude = scaled.magnitude
        let divisor = UInt64(powers[scale])
        TextBytes.appendInteger(Int64(magnitude / divisor), to: &out)
        guard scale > 0 else { return }
        out.append(UInt8(ascii: "."))
        TextBytes.appendPadded(Int64(magnitude % divisor), width: scale, to: &out)
    }
}

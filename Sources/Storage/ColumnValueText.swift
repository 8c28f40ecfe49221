/// Text forms of the fixed-width values that have one (UUID, IPv4, LONG256, GEOHASH), parsed
/// into their stored little-endian layout. Shared by ILP casts and SQL literals.
package enum ColumnValueText {
    /// `a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11` → 16 bytes: the low 64 bits, then the high 64
    /// bits, each little-endian (QuestDB's layout).
    package static func uuid(_ text: UnsafeRawBufferPointer) -> (low: UInt64, high: UInt64)? {
        guard text.count == 36 else { return nil }
        var high: UInt64 = 0, low: UInt64 = 0
        var digits = 0
        for (index, byte) in text.enumerated() {
            if index == 8 || index == 13 || index == 18 || index == 23 {
                guard byte == UInt8(ascii: "-") else { return nil }
                continue
            }
            guard let nibble = hexValue(byte) else { return nil }
            if digits < 16 { high = high << 4 | UInt64(nibble) } else { low = low << 4 | UInt64(nibble) }
            digits += 1
        }
        return (low, high)
    }

    /// Dotted quad → the address as a 32-bit number (`0.0.0.0` is IPv4's NULL).
    package static func ipv4(_ text: UnsafeRawBufferPointer) -> UInt32? {
        var value: UInt32 = 0
        var octet: UInt32 = 0
        var digits = 0
        var dots = 0
        for byte in text {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, dots < 3 else { return nil }
                value = value << 8 | octet
                octet = 0
                digits = 0
                dots += 1
            } else {
                let digit = byte &- UInt8(ascii: "0")
                guard digit < 10, digits < 3 else { return nil }
                octet = octet * 10 + UInt32(digit)
                guard octet <= 255 else { return nil }
                digits += 1
            }
        }
        guard dots == 3, digits > 0 else { return nil }
        return value << 8 | octet
    }

    /// Up to 64 hex digits (without `0x`) → four 64-bit words, least significant first.
    package static func long256(hexDigits text: UnsafeRawBufferPointer) -> (UInt64, UInt64, UInt64, UInt64)? {
        guard !text.isEmpty, text.count <= 64 else { return nil }
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        for (position, byte) in text.reversed().enumerated() {
            guard let nibble = hexValue(byte) else { return nil }
            let shifted = UInt64(nibble) << UInt64((position % 16) * 4)
            switch position / 16 {
            case 0: words.0 |= shifted
            case 1: words.1 |= shifted
            case 2: words.2 |= shifted
            default: words.3 |= shifted
            }
        }
        return words
    }

    /// A base-32 geohash truncated to `bits`; `nil` when invalid or shorter than `bits`.
    package static func geohash(_ text: UnsafeRawBufferPointer, bits: Int) -> UInt64? {
        guard text.count * 5 >= bits, bits > 0 else { return nil }
        var value: UInt64 = 0
        for byte in text.prefix((bits + 4) / 5) {
            guard let digit = base32Value(byte) else { return nil }
            value = value << 5 | UInt64(digit)
        }
        let extra = ((bits + 4) / 5) * 5 - bits
        return value >> UInt64(extra)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static let base32 = Array("0123456789bcdefghjkmnpqrstuvwxyz".utf8)

    private static func base32Value(_ byte: UInt8) -> UInt8? {
        base32.firstIndex(of: byte | 0x20).map { UInt8($0) }
    }
}

import Storage

/// ISO-8601 text for timestamps (µs), dates (ms) and nanosecond timestamps, as QuestDB reads
/// and writes it. Parsing accepts partial forms (`2024`, `2024-01`, `2024-01-15T09`) and
/// reports the whole period they name, which `ts IN '2024-01'` filters on.
package enum TimestampText {
    /// Days since 1970-01-01 → (year, month, day): the calendar protocols format dates with.
    package static func civil(fromDays days: Int64) -> (year: Int, month: Int, day: Int) {
        PartitionTime.civil(fromDays: days)
    }

    static let microsPerDay: Int64 = 86_400_000_000

    /// `2024-01-01T00:00:00.000000Z` for a µs timestamp.
    package static func micros(_ value: Int64) -> String { format(value, fractionDigits: 6, perSecond: 1_000_000) }

    /// `2024-01-01T00:00:00.000Z` for a ms date.
    package static func millis(_ value: Int64) -> String { format(value, fractionDigits: 3, perSecond: 1000) }

    /// `2024-01-01T00:00:00.000000000Z` for a ns timestamp.
    package static func nanos(_ value: Int64) -> String { format(value, fractionDigits: 9, perSecond: 1_000_000_000) }

    private static func format(_ value: Int64, fractionDigits: Int, perSecond: Int64) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        TextBytes.appendTimestamp(value, fractionDigits: fractionDigits, perSecond: perSecond, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// A parsed ISO text: the instant it starts at (µs, UTC) and the end of the period its
    /// precision names (exclusive): `2024-01` → [Jan 1, Feb 1).
    package struct Period: Sendable, Equatable {
        package var start: Int64
        package var end: Int64
        /// Nanoseconds past `start`'s microsecond (fraction digits 7–9), for TIMESTAMP_NS.
        package var nanos: Int64 = 0
    }

    /// Parses `yyyy[-MM[-dd[(T| )HH[:mm[:ss[.f{1,9}]]]]]][Z|±hh[:mm]]`; nil when it is not one.
    package static func parse(_ text: String) -> Period? {
        var scanner = Scanner(Array(text.utf8))
        guard let year = scanner.number(digits: 4) else { return nil }
        var month = 1, day = 1, hour = 0, minute = 0, second = 0
        var fractionMicros: Int64 = 0
        var nanos: Int64 = 0
        var precision = TimeUnit.year
        var fractionDigits = 0
        if scanner.accept(UInt8(ascii: "-")) {
            guard let value = scanner.number(digits: 2), (1...12).contains(value) else { return nil }
            month = value
            precision = .month
            if scanner.accept(UInt8(ascii: "-")) {
                guard let value = scanner.number(digits: 2), value >= 1, value <= daysIn(month: month, year: year) else { return nil }
                day = value
                precision = .day
                if scanner.accept(UInt8(ascii: "T")) || scanner.accept(UInt8(ascii: " ")) {
                    guard let value = scanner.number(digits: 2), value < 24 else { return nil }
                    hour = value
                    precision = .hour
                    if scanner.accept(UInt8(ascii: ":")) {
                        guard let value = scanner.number(digits: 2), value < 60 else { return nil }
                        minute = value
                        precision = .minute
                        if scanner.accept(UInt8(ascii: ":")) {
                            guard let value = scanner.number(digits: 2), value < 60 else { return nil }
                            second = value
                            precision = .second
                            if scanner.accept(UInt8(ascii: ".")) {
                                var micros: Int64 = 0
                                while let digit = scanner.digit() {
                                    fractionDigits += 1
                                    guard fractionDigits <= 9 else { return nil }
                                    if fractionDigits <= 6 { micros = micros * 10 + Int64(digit) } else { nanos = nanos * 10 + Int64(digit) }
                                }
                                if fractionDigits > 6 { for _ in fractionDigits..<9 { nanos *= 10 } }
                                guard fractionDigits > 0 else { return nil }
                                if fractionDigits < 6 { for _ in fractionDigits..<6 { micros *= 10 } }
                                fractionMicros = micros
                                precision = .microsecond
                            }
                        }
                    }
                }
            }
        }
        var offsetMicros: Int64 = 0
        if scanner.accept(UInt8(ascii: "Z")) || scanner.accept(UInt8(ascii: "z")) {
        } else if let sign = scanner.peek, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-"), precision.rawOrder >= TimeUnit.hour.rawOrder {
            scanner.position += 1
            guard let hours = scanner.number(digits: 2) else { return nil }
            _ = scanner.accept(UInt8(ascii: ":"))
            let minutes = scanner.number(digits: 2) ?? 0
            offsetMicros = Int64(hours * 60 + minutes) * 60_000_000 * (sign == UInt8(ascii: "-") ? -1 : 1)
        }
        guard scanner.atEnd else { return nil }
        let days = PartitionTime.days(fromYear: year, month: month, day: day)
        let start = days * microsPerDay + Int64(hour) * 3_600_000_000 + Int64(minute) * 60_000_000
            + Int64(second) * 1_000_000 + fractionMicros - offsetMicros
        let end: Int64
        switch precision {
        case .year: end = PartitionTime.days(fromYear: year + 1, month: 1, day: 1) * microsPerDay - offsetMicros
        case .month:
            end = PartitionTime.days(fromYear: month == 12 ? year + 1 : year, month: month == 12 ? 1 : month + 1, day: 1)
                * microsPerDay - offsetMicros
        default: end = start + (precision.fixedMicros ?? 1)
        }
        return Period(start: start, end: max(end, start + 1), nanos: nanos)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    private struct Scanner {
        let bytes: [UInt8]
        var position = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { position == bytes.count }
        var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func accept(_ byte: UInt8) -> Bool {
            guard peek == byte else { return false }
            position += 1
            return true
        }

        mutating func digit() -> Int? {
            guard let byte = peek, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            position += 1
            return Int(byte - UInt8(ascii: "0"))
        }

        mutating func number(digits: Int) -> Int? {
            var value = 0
            for _ in 0..<digits {
                guard let digit = digit() else { return nil }
                value = value * 10 + digit
            }
            return value
        }
    }
}

extension TimeUnit {
    /// Coarse-to-fine order (years first).
    var rawOrder: Int {
        switch self {
        case .year: 0
        case .month: 1
        case .week: 2
        case .day: 3
        case .hour: 4
        case .minute: 5
        case .second: 6
        case .millisecond: 7
        case .microsecond: 8
        case .nanosecond: 9
        }
    }
}

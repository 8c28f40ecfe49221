/// Why a line could not be parsed, with QuestDB's error code names (`LineTcpParser.ErrorCode`)
/// and the message text its HTTP endpoint sends (QUESTDB-COMPAT §1.6).
package struct LineParseError: Error, Sendable, Equatable, CustomStringConvertible {
    package enum Code: String, Sendable {
        case noFields = "NO_FIELDS"
        case missingFieldValue = "MISSING_FIELD_VALUE"
        case missingTagValue = "MISSING_TAG_VALUE"
        case invalidTimestamp = "INVALID_TIMESTAMP"
        case invalidFieldValue = "INVALID_FIELD_VALUE"
        case invalidTagValue = "INVALID_TAG_VALUE"
        case invalidColumnName = "INVALID_COLUMN_NAME"
        case invalidTableName = "INVALID_TABLE_NAME"
        case invalidFieldSeparator = "INVALID_FIELD_SEPARATOR"
        case invalidArray = "ARRAY_INVALID"
        case unsupportedArrayType = "ARRAY_UNSUPPORTED_ELEMENT_TYPE"
        case unsupportedBinaryFormat = "UNSUPPORTED_BINARY_FORMAT"
        case decimalNotSupported = "DECIMAL_NOT_SUPPORTED"
        case lineTooLong = "LINE_TOO_LONG"
        case invalidUTF8 = "INVALID_UTF8"
    }

    package var code: Code
    /// The table the line named, when it got that far.
    package var table: String
    /// The tag or field the error is about, when there is one.
    package var name: String
    /// The offending value, when there is one.
    package var value: String
    /// Byte offset of the problem in the buffer that was parsed.
    package var offset: Int

    package init(_ code: Code, table: String = "", name: String = "", value: String = "", offset: Int) {
        self.code = code
        self.table = table
        self.name = name
        self.value = value
        self.offset = offset
    }

    /// The text after `error in line N: ` in QuestDB's HTTP answer.
    package var description: String {
        switch code {
        case .noFields: "No fields were provided"
        case .missingFieldValue: "Could not parse entire line. Field value is missing: \(name)"
        case .missingTagValue: "Could not parse entire line. Symbol value is missing: \(name)"
        case .invalidTimestamp: "Could not parse timestamp: \(value)"
        case .invalidFieldValue: "Could not parse entire line, field value is invalid. Field: \(name); value: \(value)"
        case .invalidTagValue: "Could not parse entire line, tag value is invalid. Tag: \(name); value: \(value)"
        case .invalidColumnName: "table: \(table); invalid column name: \(name)"
        case .decimalNotSupported:
            "table: \(table), column: \(name); DECIMAL values have at most 76 digits and a scale of at most 76"
        case .lineTooLong: "line is longer than the maximum line size of \(value) bytes"
        case .invalidUTF8: "table: \(table); the line is not valid UTF-8 (names and text values must be)"
        default: code.rawValue
        }
    }
}

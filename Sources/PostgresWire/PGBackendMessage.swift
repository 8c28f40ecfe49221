import NIOCore

/// A column of a RowDescription.
package struct PGColumnDescription: Sendable, Equatable {
    package var name: String
    package var type: PGType
    package var format: PGFormat

    package init(name: String, type: PGType, format: PGFormat) {
        self.name = name
        self.type = type
        self.format = format
    }
}

/// The fields of an ErrorResponse or NoticeResponse.
package struct PGErrorFields: Sendable, Equatable {
    package var severity: String
    package var sqlState: String
    package var message: String
    /// 1-based character position in the statement.
    package var position: Int?
    package var detail: String?
    package var routine: String?

    package init(severity: String = "ERROR", sqlState: String, message: String, position: Int? = nil) {
        self.severity = severity
        self.sqlState = sqlState
        self.message = message
        self.position = position
    }
}

/// Transaction status reported by ReadyForQuery.
package enum PGTransactionStatus: UInt8, Sendable {
    case idle = 0x49  // I
    case inTransaction = 0x54  // T
    case failed = 0x45  // E
}

/// A message from the server. One case per message type; `write(into:)` is the only
/// encoder. DataRow is not here: rows are written column-wise by `PGRowWriter`.
package enum PGBackendMessage: Sendable, Equatable {
    case authenticationOk
    case authenticationCleartextPassword
    case authenticationSASL(mechanisms: [String])
    case authenticationSASLContinue([UInt8])
    case authenticationSASLFinal([UInt8])
    case parameterStatus(name: String, value: String)
    case backendKeyData(processID: Int32, secret: Int32)
    case readyForQuery(PGTransactionStatus)
    case negotiateProtocolVersion(newestMinor: Int32, unrecognized: [String])
    case parseComplete
    case bindComplete
    case closeComplete
    case noData
    case portalSuspended
    case emptyQueryResponse
    case commandComplete(String)
    case parameterDescription([Int32])
    case rowDescription([PGColumnDescription])
    case error(PGErrorFields)
    case notice(PGErrorFields)

    package func write(into out: inout ByteBuffer) {
        switch self {
        case .authenticationOk:
            Self.frame("R", &out) { $0.writeInteger(Int32(0)) }
        case .authenticationCleartextPassword:
            Self.frame("R", &out) { $0.writeInteger(Int32(3)) }
        case .authenticationSASL(let mechanisms):
            Self.frame("R", &out) { body in
                body.writeInteger(Int32(10))
                for mechanism in mechanisms { body.writeCString(mechanism) }
                body.writeInteger(UInt8(0))
            }
        case .authenticationSASLContinue(let data):
            Self.frame("R", &out) { body in
                body.writeInteger(Int32(11))
                body.writeBytes(data)
            }
        case .authenticationSASLFinal(let data):
            Self.frame("R", &out) { body in
                body.writeInteger(Int32(12))
                body.writeBytes(data)
            }
        case .parameterStatus(let name, let value):
            Self.frame("S", &out) { body in
                body.writeCString(name)
                body.writeCString(value)
            }
        case .backendKeyData(let processID, let secret):
            Self.frame("K", &out) { body in
                body.writeInteger(processID)
                body.writeInteger(secret)
            }
        case .readyForQuery(let status):
            Self.frame("Z", &out) { $0.writeInteger(status.rawValue) }
        case .negotiateProtocolVersion(let minor, let options):
            Self.frame("v", &out) { body in
                body.writeInteger(Int32(3 << 16) | minor)
                body.writeInteger(Int32(options.count))
                for option in options { body.writeCString(option) }
            }
        case .parseComplete: Self.frame("1", &out) { _ in }
        case .bindComplete: Self.frame("2", &out) { _ in }
        case .closeComplete: Self.frame("3", &out) { _ in }
        case .noData: Self.frame("n", &out) { _ in }
        case .portalSuspended: Self.frame("s", &out) { _ in }
        case .emptyQueryResponse: Self.frame("I", &out) { _ in }
        case .commandComplete(let tag):
            Self.frame("C", &out) { $0.writeCString(tag) }
        case .parameterDescription(let types):
            Self.frame("t", &out) { body in
                body.writeInteger(Int16(truncatingIfNeeded: types.count))
                for type in types { body.writeInteger(type) }
            }
        case .rowDescription(let columns):
            Self.frame("T", &out) { body in
                body.writeInteger(Int16(columns.count))
                for (index, column) in columns.enumerated() {
                    body.writeCString(column.name)
                    body.writeInteger(Int32(0))  // table OID
                    body.writeInteger(Int16(index + 1))  // attribute number
                    body.writeInteger(column.type.oid)
                    body.writeInteger(column.type.size)
                    body.writeInteger(column.type.modifier)
                    body.writeInteger(column.format.rawValue)
                }
            }
        case .error(let fields):
            Self.frame("E", &out) { Self.writeFields(fields, &$0) }
        case .notice(let fields):
            Self.frame("N", &out) { Self.writeFields(fields, &$0) }
        }
    }

    private static func writeFields(_ fields: PGErrorFields, _ body: inout ByteBuffer) {
        func field(_ code: Character, _ value: String) {
            body.writeInteger(code.asciiValue!)
            body.writeCString(value)
        }
        field("S", fields.severity)
        field("V", fields.severity)
        field("C", fields.sqlState)
        field("M", fields.message)
        if let detail = fields.detail { field("D", detail) }
        if let position = fields.position { field("P", String(position)) }
        if let routine = fields.routine { field("R", routine) }
        body.writeInteger(UInt8(0))
    }

    /// Type byte, then the body's length (which counts itself) patched in after the body.
    private static func frame(_ type: Character, _ out: inout ByteBuffer, _ body: (inout ByteBuffer) -> Void) {
        out.writeInteger(type.asciiValue!)
        let lengthIndex = out.writerIndex
        out.writeInteger(Int32(0))
        body(&out)
        out.setInteger(Int32(out.writerIndex - lengthIndex), at: lengthIndex)
    }
}

extension ByteBuffer {
    mutating func writeCString(_ text: String) {
        writeString(text)
        writeInteger(UInt8(0))
    }
}

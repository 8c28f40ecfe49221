import NIOCore

/// The first message of a connection, which has no type byte: a protocol 3.x startup or one
/// of the negotiation requests (PostgreSQL protocol docs, "Start-up").
package enum PGStartupRequest: Sendable, Equatable {
    /// `minorVersion` of protocol 3; `options` are the `_pq_.*` protocol options asked for.
    case startup(minorVersion: Int, parameters: [String: String], options: [String])
    case sslRequest
    case gssEncRequest
    case cancel(processID: Int32, secret: Int32)
    /// A protocol version other than 3.x: refused with FATAL 0A000.
    case unsupportedVersion(major: Int, minor: Int)

    static let sslCode: Int32 = 80_877_103
    static let gssEncCode: Int32 = 80_877_104
    static let cancelCode: Int32 = 80_877_102
}

/// A bind parameter's or result column's wire format.
package enum PGFormat: Int16, Sendable {
    case text = 0
    case binary = 1
}

/// What Describe and Close name: a prepared statement or a portal.
package enum PGTarget: UInt8, Sendable {
    case statement = 0x53  // S
    case portal = 0x50  // P
}

/// `Bind`: values for a prepared statement's parameters, making a portal.
package struct PGBind: Sendable, Equatable {
    package var portal: String
    package var statement: String
    /// Empty (all text), one (for all) or one per parameter.
    package var parameterFormats: [PGFormat]
    /// nil: SQL NULL.
    package var parameters: [[UInt8]?]
    /// Empty (all text), one (for all) or one per column.
    package var resultFormats: [PGFormat]

    package init(portal: String, statement: String, parameterFormats: [PGFormat], parameters: [[UInt8]?], resultFormats: [PGFormat]) {
        self.portal = portal
        self.statement = statement
        self.parameterFormats = parameterFormats
        self.parameters = parameters
        self.resultFormats = resultFormats
    }
}

/// A message from the client after start-up. One case per message type the server handles;
/// the ones it refuses (COPY, FunctionCall) are decoded so they can be refused by name.
package enum PGFrontendMessage: Sendable, Equatable {
    case query(String)
    case parse(name: String, query: String, parameterTypes: [Int32])
    case bind(PGBind)
    case describe(PGTarget, name: String)
    case execute(portal: String, maxRows: Int)
    case close(PGTarget, name: String)
    case sync
    case flush
    case terminate
    /// `p`: a password, SASLInitialResponse or SASLResponse; which depends on the
    /// authentication exchange in progress, so the bytes are kept raw.
    case authenticationResponse([UInt8])
    /// COPY data/done/fail and FunctionCall: not supported.
    case unsupported(type: UInt8)
}

/// A protocol error: its SQLSTATE and message, and whether the connection must close
/// (FATAL) or only the current message fails (ERROR).
package struct PGProtocolError: Error, Sendable, Equatable {
    package var sqlState: String
    package var message: String
    package var fatal: Bool
    /// The failed message was a simple Query: ReadyForQuery follows the error at once.
    package var simpleQuery = false

    package init(_ sqlState: String, _ message: String, fatal: Bool) {
        self.sqlState = sqlState
        self.message = message
        self.fatal = fatal
    }

    static func violation(_ message: String, fatal: Bool = false) -> PGProtocolError {
        PGProtocolError("08P01", message, fatal: fatal)
    }
}

/// Why a connection closes without an answer: its first bytes are not a start-up packet
/// PostgreSQL would answer (RELIABILITY §3.2 P2–P4).
package struct PGFramingError: Error, Sendable, Equatable {
    package var reason: String
}

/// Resumable decoder of the frontend byte stream: bytes are fed as they arrive and whole
/// messages come out; a partial message waits for more. Lengths are checked before any
/// allocation: start-up packets up to 10,000 bytes (PostgreSQL's limit), other messages up
/// to `maxMessageBytes`.
package struct PGMessageDecoder {
    package static let maxStartupBytes = 10_000

    private var buffer = ByteBuffer()
    package let maxMessageBytes: Int

    package init(maxMessageBytes: Int) {
        self.maxMessageBytes = maxMessageBytes
    }

    package mutating func feed(_ bytes: ByteBuffer) {
        var bytes = bytes
        if buffer.readableBytes == 0 { buffer.discardReadBytes() }
        buffer.writeBuffer(&bytes)
    }

    /// Bytes received but not yet decoded.
    package var pendingBytes: Int { buffer.readableBytes }

    /// The next start-up request, nil until it has arrived whole.
    package mutating func nextStartup() throws(PGFramingError) -> PGStartupRequest? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return nil }
        guard length >= 8 else { throw PGFramingError(reason: "invalid length of startup packet: \(length)") }
        guard length <= Self.maxStartupBytes else { throw PGFramingError(reason: "invalid length of startup packet: \(length)") }
        guard buffer.readableBytes >= Int(length) else { return nil }
        var packet = buffer.readSlice(length: Int(length))!
        packet.moveReaderIndex(forwardBy: 4)
        let code = packet.readInteger(as: Int32.self)!
        switch code {
        case PGStartupRequest.sslCode: return .sslRequest
        case PGStartupRequest.gssEncCode: return .gssEncRequest
        case PGStartupRequest.cancelCode:
            guard let pid = packet.readInteger(as: Int32.self), let secret = packet.readInteger(as: Int32.self) else {
                throw PGFramingError(reason: "invalid length of cancel request")
            }
            return .cancel(processID: pid, secret: secret)
        default:
            break
        }
        let major = Int(code >> 16), minor = Int(code & 0xFFFF)
        guard major == 3 else { return .unsupportedVersion(major: major, minor: minor) }
        var parameters: [String: String] = [:]
        var options: [String] = []
        while packet.readableBytes > 1 {
            guard let name = packet.readCString(), let value = packet.readCString() else {
                throw PGFramingError(reason: "invalid startup packet layout: expected terminator as last byte")
            }
            if name.hasPrefix("_pq_.") { options.append(name) } else { parameters[name] = value }
        }
        return .startup(minorVersion: minor, parameters: parameters, options: options)
    }

    /// The next message after start-up, nil until one has arrived whole. A framing error
    /// (bad length) throws; a message whose body is malformed comes back as `.failure` so the
    /// connection can answer it and go on.
    package mutating func next() throws(PGFramingError) -> Result<PGFrontendMessage, PGProtocolError>? {
        guard let type = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        // An unknown type is refused before its length is read (a second start-up packet reads
        // as type 0, as PostgreSQL reports it).
        guard Self.knownTypes.contains(type) else {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .failure(.violation("invalid frontend message type \(type)", fatal: true))
        }
        guard buffer.readableBytes >= 5 else { return nil }
        let length = Int(buffer.getInteger(at: buffer.readerIndex + 1, as: Int32.self)!)
        guard length >= 4 else { throw PGFramingError(reason: "invalid message length \(length)") }
        guard length <= maxMessageBytes else {
            throw PGFramingError(reason: "message of \(length) bytes is over the \(maxMessageBytes) byte limit")
        }
        guard buffer.readableBytes >= 1 + length else { return nil }
        buffer.moveReaderIndex(forwardBy: 5)
        var body = buffer.readSlice(length: length - 4)!
        do throws(PGProtocolError) {
            return .success(try Self.decode(type: type, body: &body))
        } catch {
            var failure = error
            failure.simpleQuery = type == UInt8(ascii: "Q")
            return .failure(failure)
        }
    }

    private static let knownTypes = Set("QPBDECSHXpdcfF".utf8)

    static func decode(type: UInt8, body: inout ByteBuffer) throws(PGProtocolError) -> PGFrontendMessage {
        switch type {
        case UInt8(ascii: "Q"):
            return .query(try body.readText())
        case UInt8(ascii: "P"):
            let name = try body.readText(), query = try body.readText()
            let count = try body.readCount()
            var types: [Int32] = []
            types.reserveCapacity(count)
            for _ in 0..<count { types.append(try body.readInt32()) }
            return .parse(name: name, query: query, parameterTypes: types)
        case UInt8(ascii: "B"):
            let portal = try body.readText(), statement = try body.readText()
            let formatCount = try body.readCount()
            var formats: [PGFormat] = []
            for _ in 0..<formatCount { formats.append(try body.readFormat()) }
            let parameterCount = try body.readCount()
            var parameters: [[UInt8]?] = []
            parameters.reserveCapacity(parameterCount)
            for _ in 0..<parameterCount {
                let length = try body.readInt32()
                if length == -1 {
                    parameters.append(nil)
                    continue
                }
                guard length >= 0, let bytes = body.readBytes(length: Int(length)) else {
                    throw .violation("insufficient data left in message")
                }
                parameters.append(bytes)
            }
            let resultCount = try body.readCount()
            var results: [PGFormat] = []
            for _ in 0..<resultCount { results.append(try body.readFormat()) }
            return .bind(PGBind(portal: portal, statement: statement, parameterFormats: formats, parameters: parameters, resultFormats: results))
        case UInt8(ascii: "D"), UInt8(ascii: "C"):
            guard let kind = body.readInteger(as: UInt8.self), let target = PGTarget(rawValue: kind) else {
                throw .violation("invalid \(type == UInt8(ascii: "D") ? "DESCRIBE" : "CLOSE") message subtype")
            }
            let name = try body.readText()
            return type == UInt8(ascii: "D") ? .describe(target, name: name) : .close(target, name: name)
        case UInt8(ascii: "E"):
            let portal = try body.readText()
            let maxRows = try body.readInt32()
            return .execute(portal: portal, maxRows: Int(max(0, maxRows)))
        case UInt8(ascii: "S"): return .sync
        case UInt8(ascii: "H"): return .flush
        case UInt8(ascii: "X"): return .terminate
        case UInt8(ascii: "p"): return .authenticationResponse(body.readBytes(length: body.readableBytes) ?? [])
        case UInt8(ascii: "d"), UInt8(ascii: "c"), UInt8(ascii: "f"), UInt8(ascii: "F"): return .unsupported(type: type)
        default:
            throw .violation("invalid frontend message type \(type)", fatal: true)
        }
    }
}

extension ByteBuffer {
    /// A NUL-terminated UTF-8 string: 08P01 when unterminated, 22021 when not UTF-8.
    mutating func readText() throws(PGProtocolError) -> String {
        guard let end = readableBytesView.firstIndex(of: 0) else { throw .violation("invalid string in message") }
        let length = end - readableBytesView.startIndex
        let bytes = readableBytesView.prefix(length)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            let bad = bytes.first { $0 >= 0x80 } ?? 0
            throw PGProtocolError("22021", "invalid byte sequence for encoding \"UTF8\": 0x\(String(bad, radix: 16))", fatal: false)
        }
        moveReaderIndex(forwardBy: length + 1)
        return text
    }

    mutating func readCString() -> String? {
        guard let end = readableBytesView.firstIndex(of: 0) else { return nil }
        let text = readString(length: end - readableBytesView.startIndex)
        moveReaderIndex(forwardBy: 1)
        return text
    }

    mutating func readInt32() throws(PGProtocolError) -> Int32 {
        guard let value = readInteger(as: Int32.self) else { throw .violation("insufficient data left in message") }
        return value
    }

    mutating func readCount() throws(PGProtocolError) -> Int {
        guard let value = readInteger(as: Int16.self) else { throw .violation("insufficient data left in message") }
        // Counts are unsigned 16-bit on the wire (up to 65,535 parameters).
        return Int(UInt16(bitPattern: value))
    }

    mutating func readFormat() throws(PGProtocolError) -> PGFormat {
        guard let value = readInteger(as: Int16.self) else { throw .violation("insufficient data left in message") }
        guard let format = PGFormat(rawValue: value) else { throw .violation("invalid format code: \(value)") }
        return format
    }
}

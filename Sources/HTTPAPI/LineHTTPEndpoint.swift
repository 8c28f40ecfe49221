import LineProtocol
import Logging
import NIOCore
import NIOHTTP1
import SQL
import Storage
import Synchronization

/// `POST /write` and `POST /api/v2/write`: ILP over HTTP (QUESTDB-COMPAT §2.1).
///
/// The body is parsed as it streams in (never buffered whole) and rows go into per-table
/// batches; the request commits only if every line is good — all or nothing — and the answer
/// is `204` after the commit. Errors carry QuestDB's JSON shape with the line number.
package struct LineHTTPEndpoint: HTTPEndpoint {
    private let ingestion: LineIngestion
    private let maxBodyBytes: Int
    private let errors: ErrorIDs
    private let logger: Logger

    package init(ingestion: LineIngestion, maxBodyBytes: Int, logger: Logger) {
        self.ingestion = ingestion
        self.maxBodyBytes = maxBodyBytes
        self.errors = ErrorIDs()
        self.logger = logger
    }

    package func respond(to request: HTTPRequest, body: HTTPRequestBody) async throws -> HTTPResponse {
        let role = ingestion.role
        guard role.acceptsWrites else {
            LineMetrics.http.error(.readOnly)
            return respond(
                to: LineIngestError(.readOnly, line: nil, table: "", role.writeRefusal),
                request: request)
        }
        let unit: LineTimestampUnit
        switch request.target.parameter("precision") {
        case nil, "n", "ns": unit = .nanos
        case "u", "us": unit = .micros
        case "ms": unit = .millis
        case "s": unit = .seconds
        case "m": unit = .minutes
        case "h": unit = .hours
        default:
            return error(.badRequest, code: "not supported", message: "unsupported precision", line: nil)
        }
        var inflater: GzipInflater?
        switch request.headers.first(name: "content-encoding")?.lowercased() {
        case nil, "", "identity":
            break
        case "gzip", "x-gzip":
            do {
                inflater = try GzipInflater(maxOutputBytes: maxBodyBytes)
            } catch {
                return self.error(.unsupportedMediaType, code: "not supported", message: "gzip decoder could not be initialised", line: nil)
            }
        case let other?:
            return error(.unsupportedMediaType, code: "not supported", message: "unsupported content encoding: \(other)", line: nil)
        }

        let ingestor = ingestion.borrowIngestor()
        defer { ingestion.recycle(ingestor) }
        var lanes = LineLanes(ingestion: ingestion, ingestor: ingestor, defaultUnit: unit)
        do throws(LineIngestError) {
            do {
                while let chunk = try await body.next() {
                    LineMetrics.http.received(bytes: chunk.readableBytes)
                    try await lanes.feed(try inflater.map { (inflater) throws(GzipInflater.Failure) in try inflater.inflate(chunk) } ?? chunk)
                }
                try inflater?.finish()
            } catch let failure as GzipInflater.Failure {
                throw Self.gzipError(failure, line: lanes.linesParsed + 1)
            } catch let error as LineIngestError {
                throw error
            } catch let error as HTTPBodyTooLargeError {
                throw LineIngestError(.tooLarge, line: nil, table: "", "request body exceeds \(error.limit) bytes")
            } catch {
                throw LineIngestError(.invalidLine, line: nil, table: "", "request body could not be read: \(error)")
            }
            try await lanes.finish()
            LineMetrics.http.parsed(lines: lanes.linesParsed)
            try await ingestor.commitAll()
            return HTTPResponse(status: .noContent)
        } catch {
            ingestor.discardAll()
            LineMetrics.http.error(error.kind)
            return respond(to: error, request: request)
        }
    }

    private static func gzipError(_ failure: GzipInflater.Failure, line: Int) -> LineIngestError {
        switch failure {
        case .tooLarge(let limit):
            LineIngestError(.tooLarge, line: nil, table: "", "inflated request body exceeds \(limit) bytes")
        case .corrupt(let reason):
            LineIngestError(.invalidLine, line: nil, table: "", "invalid gzip body: \(reason)")
        case .initialisation:
            LineIngestError(.storage, line: nil, table: "", "gzip decoder could not be initialised")
        }
    }

    private func respond(to failure: LineIngestError, request: HTTPRequest) -> HTTPResponse {
        let (status, code): (HTTPResponseStatus, String)
        switch failure.kind {
        case .invalidLine: (status, code) = (.badRequest, "invalid")
        case .tooLarge: (status, code) = (.payloadTooLarge, "request too large")
        case .schemaChanged: (status, code) = (.serviceUnavailable, "retry operation")
        case .storage: (status, code) = (.internalServerError, "internal error")
        case .unauthorized: (status, code) = (.forbidden, "unauthorised")
        case .readOnly: (status, code) = (.misdirectedRequest, "read only")
        case .notReplicated: (status, code) = (.serviceUnavailable, "not replicated")
        }
        let message: String
        if let line = failure.line {
            message = "failed to parse line protocol:errors encountered on line(s):\nerror in line \(line): \(failure.message)"
        } else {
            message = failure.message
        }
        var response = error(status, code: code, message: message, line: failure.line)
        if failure.kind == .readOnly { response.headers.replaceOrAdd(name: "X-QuestDB-Role", value: ingestion.role.rawValue.uppercased()) }
        logger.log(
            level: failure.kind == .storage ? .error : .info, "ILP over HTTP refused",
            metadata: ["error": "\(failure.description)", "table": "\(failure.table)", "peer": "\(request.remoteAddress.map { "\($0)" } ?? "-")"])
        return response
    }

    private func error(_ status: HTTPResponseStatus, code: String, message: String, line: Int?) -> HTTPResponse {
        var json = "{\"code\":\(JSONText.quoted(code)),\"message\":\(JSONText.quoted(message))"
        if let line { json += ",\"line\":\(line)" }
        json += ",\"errorId\":\(JSONText.quoted(errors.next()))}"
        return .json(status, json)
    }
}

/// QuestDB's `errorId`: 12 hex digits fixed per server start, a dash, a counter.
final class ErrorIDs: Sendable {
    private let prefix: String
    private let counter = Atomic<Int>(0)

    init() {
        var generator = SystemRandomNumberGenerator()
        let random = generator.next() & 0xFFFF_FFFF_FFFF
        let hex = String(random, radix: 16)
        prefix = String(repeating: "0", count: 12 - hex.count) + hex
    }

    func next() -> String {
        "\(prefix)-\(counter.add(1, ordering: .relaxed).newValue)"
    }
}

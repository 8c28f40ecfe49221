import NIOCore
import NIOHTTP1
import SQL

/// `POST /imp`: multipart CSV import (QUESTDB-COMPAT §3.3). The data part streams through a
/// multipart parser into the SQL engine's CSV import, which commits in batches, so memory stays
/// bounded whatever the file size. QuestDB answers 200 in every case, errors included.
package struct ImportEndpoint: HTTPEndpoint {
    private let engine: SQLEngine

    package init(engine: SQLEngine) { self.engine = engine }

    package func respond(to request: HTTPRequest, body: HTTPRequestBody) async throws -> HTTPResponse {
        let target = request.target
        let json = target.parameter("fmt") == "json"
        func failure(_ message: String) -> HTTPResponse {
            json ? .json(.ok, "{\"status\":\(JSONText.quoted(message))}") : .text(.ok, message + "\r\n")
        }
        guard let contentType = request.headers.first(name: "content-type"),
              let boundary = MultipartParser.boundary(contentType: contentType)
        else {
            return failure("expected a multipart/form-data body with a boundary")
        }
        var options = CSVImportOptions(table: target.parameter("name") ?? "")
        options.partitionBy = target.parameter("partitionBy")
        options.timestamp = target.parameter("timestamp")
        options.overwrite = target.parameter("overwrite")?.lowercased() == "true"
        options.forceHeader = target.parameter("forceHeader")?.lowercased() == "true"
        options.create = target.parameter("create")?.lowercased() != "false"
        if let atomicity = target.parameter("atomicity") {
            guard let parsed = CSVImportOptions.Atomicity(rawValue: atomicity) else {
                return failure("invalid atomicity value [\(atomicity)]: skipCol, skipRow or abort")
            }
            options.atomicity = parsed
        }
        if let delimiter = target.parameter("delimiter") {
            guard delimiter.utf8.count == 1 else { return failure("delimiter must be a single character") }
            options.delimiter = delimiter.utf8.first
        }
        if let partitionBy = options.partitionBy,
           !["NONE", "HOUR", "DAY", "WEEK", "MONTH", "YEAR"].contains(partitionBy.uppercased())
        {
            return failure("invalid partitionBy")
        }
        if let partitionBy = options.partitionBy, partitionBy.uppercased() != "NONE", options.timestamp == nil {
            return failure("when specifying partitionBy you must also specify timestamp")
        }

        var parser = MultipartParser(boundary: boundary)
        var part: String?
        var schemaBytes: [UInt8] = []
        var importer: CSVImport?
        var finished = false
        do {
            while let chunk = try await body.next() {
                for event in try parser.feed(chunk.readableBytesView) {
                    switch event {
                    case .part(let name, let filename):
                        part = name
                        if name == "data" {
                            if options.table.isEmpty, let filename, !filename.isEmpty { options.table = filename }
                            guard !options.table.isEmpty else { return failure("no file name given") }
                            options.declared = try Self.declaredColumns(schemaBytes)
                            importer = CSVImport(engine: engine, options: options)
                        }
                    case .data(let bytes):
                        if part == "schema" {
                            guard schemaBytes.count + bytes.count <= 1 << 20 else { return failure("schema part is larger than 1 MiB") }
                            schemaBytes.append(contentsOf: bytes)
                        } else if part == "data" {
                            try await importer?.feed(bytes)
                        }
                    case .partEnd:
                        part = nil
                    case .end:
                        finished = true
                    }
                }
            }
        } catch let error as SQLError {
            return failure(error.message)
        } catch let error as MultipartParser.Failure {
            if case .malformed(let message) = error { return failure("malformed multipart body: \(message)") }
        } catch let error as JSONValue.Failure {
            return failure("invalid schema JSON: \(error.message) at byte \(error.offset)")
        }
        guard let importer else { return failure("no data part in the request") }
        guard finished else { return failure("multipart body ended before its closing boundary") }
        let report: CSVImportReport
        do { report = try await importer.finish() } catch { return failure(error.message) }
        return json ? .json(.ok, Self.json(report)) : .text(.ok, Self.table(report))
    }

    static func declaredColumns(_ bytes: [UInt8]) throws(JSONValue.Failure) -> [CSVImportOptions.DeclaredColumn] {
        guard !bytes.isEmpty else { return [] }
        guard case .array(let elements) = try JSONValue.parse(bytes) else {
            throw JSONValue.Failure(message: "schema must be an array of {name, type[, pattern]}", offset: 0)
        }
        return try elements.map { (element) throws(JSONValue.Failure) in
            guard let name = element["name"]?.string, let type = element["type"]?.string else {
                throw JSONValue.Failure(message: "each schema entry needs name and type", offset: 0)
            }
            return CSVImportOptions.DeclaredColumn(name: name, type: type, pattern: element["pattern"]?.string)
        }
    }

    static func json(_ report: CSVImportReport) -> String {
        var out = "{\"status\":\"OK\",\"location\":\(JSONText.quoted(report.table)),\"rowsRejected\":\(report.rowsRejected),"
        out += "\"rowsImported\":\(report.rowsImported),\"header\":\(report.header),\"partitionBy\":\"\(report.partitionBy)\","
        if let timestamp = report.timestamp { out += "\"timestamp\":\(JSONText.quoted(timestamp)),"}
        if !report.warnings.isEmpty { out += "\"warnings\":[" + report.warnings.map(JSONText.quoted).joined(separator: ",") + "]," }
        out += "\"columns\":[" + report.columns.map {
            "{\"name\":\(JSONText.quoted($0.name)),\"type\":\(JSONText.quoted($0.type)),\"size\":\($0.size),\"errors\":\($0.errors)}"
        }.joined(separator: ",") + "]}"
        return out
    }

    /// QuestDB's text reply: a boxed table of the import's summary and columns.
    static func table(_ report: CSVImportReport) -> String {
        func cell(_ text: String, _ width: Int, right: Bool = true) -> String {
            let padding = String(repeating: " ", count: max(0, width - text.count))
            return right ? padding + text : text + padding
        }
        let rule = "+" + String(repeating: "-", count: 99) + "+\r\n"
        var out = rule
        out += "|      Location:  |" + cell(report.table, 42) + "  |        Pattern  | Locale  |      Errors  |\r\n"
        out += "|   Partition by  |" + cell(report.partitionBy, 42) + "  |                 |         |              |\r\n"
        out += "|      Timestamp  |" + cell(report.timestamp ?? "NONE", 42) + "  |                 |         |              |\r\n"
        out += rule
        out += "|   Rows handled  |" + cell(String(report.rowsImported + report.rowsRejected), 42) + "  |                 |         |              |\r\n"
        out += "|  Rows imported  |" + cell(String(report.rowsImported), 42) + "  |                 |         |              |\r\n"
        out += rule
        for (index, column) in report.columns.enumerated() {
            out += "|" + cell(String(index), 15) + "  |" + cell(column.name, 42) + "  |" + cell(column.type, 17) + "  |"
            out += cell(String(column.errors), 19) + "  |\r\n"
        }
        return out + rule
    }
}

import Storage

/// What a transport needs to ingest ILP: the engine and the settings, handed out as one
/// value so HTTP (in `HTTPAPI`) can make ingestors without importing Storage.
package struct LineIngestion: Sendable {
    private let engine: StorageEngine
    package let configuration: LineIngestConfiguration
    private let nowNanos: @Sendable () -> Int64

    package init(engine: StorageEngine, configuration: LineIngestConfiguration, nowNanos: @escaping @Sendable () -> Int64) {
        self.engine = engine
        self.configuration = configuration
        self.nowNanos = nowNanos
    }

    /// A fresh ingestor for one request or connection.
    package func makeIngestor() -> LineIngestor {
        LineIngestor(engine: engine, configuration: configuration, nowNanos: nowNanos)
    }

    /// Feeds everything `stream` holds to `ingestor`, running the schema changes lines need.
    package static func drain(_ stream: inout LineStream, into ingestor: LineIngestor, defaultUnit: LineTimestampUnit) async throws(LineIngestError) {
        while let change = try stream.drain({ (parser, buffer, line) throws(LineIngestError) in
            try ingestor.append(parser, in: buffer, line: line, defaultUnit: defaultUnit)
        }) {
            try await ingestor.apply(change)
        }
    }
}

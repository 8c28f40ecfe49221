import Storage
import Synchronization

/// What a transport needs to ingest ILP: the engine and the settings, handed out as one
/// value so HTTP (in `HTTPAPI`) can make ingestors without importing Storage.
package struct LineIngestion: Sendable {
    private let engine: StorageEngine
    package let configuration: LineIngestConfiguration
    private let nowNanos: @Sendable () -> Int64
    private let pool = LineIngestorPool(capacity: 16)
    /// Whether SQL statements are running now: a stream then parses on one core and leaves
    /// the other to them (decision 0028).
    package let queriesRunning: @Sendable () -> Bool

    /// The node's role: a replica or fenced node refuses ILP before reading a line.
    package var role: NodeRole { engine.role }

    package init(
        engine: StorageEngine, configuration: LineIngestConfiguration, nowNanos: @escaping @Sendable () -> Int64,
        queriesRunning: @escaping @Sendable () -> Bool = { false }
    ) {
        self.engine = engine
        self.configuration = configuration
        self.nowNanos = nowNanos
        self.queriesRunning = queriesRunning
    }

    /// A fresh ingestor for one request or connection.
    package func makeIngestor() -> LineIngestor {
        LineIngestor(engine: engine, configuration: configuration, nowNanos: nowNanos)
    }

    /// An ingestor for one HTTP request, reused from earlier requests when one is free: its
    /// batches keep their capacity and its column caches stay warm, so a steady stream of
    /// requests appends without growing buffers. Give it back with `recycle` when done.
    package func borrowIngestor() -> LineIngestor {
        if let ingestor = pool.take() {
            ingestor.refresh()
            return ingestor
        }
        return makeIngestor()
    }

    /// Returns an ingestor after its request; its batches must be committed or discarded.
    package func recycle(_ ingestor: LineIngestor) {
        ingestor.discardAll()
        // An ingestor that wrote many tables, or one huge request, holds much capacity: let it
        // go rather than keep up to 16 of those (the pool is for the steady stream of requests).
        if ingestor.tableCount <= 8 && ingestor.retainedBytes <= configuration.maxPooledBatchBytes { pool.give(ingestor) }
    }

    /// Waits for appended commits to settle (durable, acknowledged as the sync mode asks).
    package func settle(_ commits: [UnsettledCommit]) async throws(LineIngestError) {
        try await Self.settle(commits, on: engine)
    }

    static func settle(_ commits: [UnsettledCommit], on engine: StorageEngine) async throws(LineIngestError) {
        for commit in commits {
            do {
                try await engine.settle(commit.appended)
            } catch {
                throw .commit(error, table: commit.tables)
            }
        }
    }

    /// Feeds everything `stream` holds to `ingestor`, running the schema changes lines need.
    /// `carriedOnly`: only the line the stream carries is finished (`LineStream.drainCarried`).
    package static func drain(
        _ stream: inout LineStream, into ingestor: LineIngestor, defaultUnit: LineTimestampUnit, carriedOnly: Bool = false
    ) async throws(LineIngestError) {
        let handler: LineStream.LineHandler = { (parser, buffer, line) throws(LineIngestError) in
            try ingestor.append(parser, in: buffer, line: line, defaultUnit: defaultUnit)
        }
        stream.use(ingestor.seriesMemo)
        while let change = try carriedOnly ? stream.drainCarried(handler) : stream.drain(handler) {
            try await ingestor.apply(change)
        }
    }
}

/// Idle ingestors between HTTP requests. Each is used by one request at a time: taken under
/// the lock, used by that request's task alone, given back under the lock.
final class LineIngestorPool: @unchecked Sendable {
    private let lock = PlainMutex(())
    private var idle: [LineIngestor] = []
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    func take() -> LineIngestor? {
        lock.withLock { _ in idle.popLast() }
    }

    func give(_ ingestor: LineIngestor) {
        lock.withLock { _ in
            if idle.count < capacity { idle.append(ingestor) }
        }
    }
}

import ArgumentParser
import LineProtocol
import NIOCore
import Storage
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `ilp-parse`: the ILP parser on one core over a pre-generated TSBS file (PERFORMANCE §6.1):
/// parse only, then parse + append into row batches (casts, symbols as bytes, designated
/// timestamps; batches emptied every 10 k lines, nothing committed). MB/s and lines/s.
struct LineParseBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ilp-parse", abstract: "Parser throughput over an ILP file, one core.")

    @Option(help: "ILP file (integration/bench/tsbs_generate.py writes one).")
    var file: String

    @Option(help: "Chunk size the stream is fed in, as a socket read would deliver it.")
    var chunkBytes = 64 * 1024

    @Option(help: "Passes over the file per measure; the fastest counts (a shared machine's noise only slows a pass).")
    var passes = 3

    @Flag(help: "Only the parse measure (for `perf stat` of the parser alone).")
    var parseOnly = false

    func run() async throws {
        guard let bytes = try DurableFile.read(file, maxBytes: 1 << 36) else { throw ValidationError("no such file: \(file)") }
        let megabytes = Double(bytes.count) / 1_000_000
        let chunks = stride(from: 0, to: bytes.count, by: chunkBytes).map {
            ByteBuffer(bytes: bytes[$0..<min($0 + chunkBytes, bytes.count)])
        }

        // Parse only: every line tokenized whole, then with a series memo (as ingestion parses:
        // a line whose table and tags were seen before copies them).
        var lines = 0
        var seconds = Double.infinity
        for memo in [nil, LineSeriesMemo()] {
            seconds = .infinity
            for _ in 0..<max(1, passes) {
                lines = 0
                let started = Self.now()
                var stream = LineStream(maxLineBytes: 1 << 20)
                if let memo { stream.use(memo) }
                for chunk in chunks {
                    stream.feed(chunk)
                    _ = try stream.drain { _, _, _ in
                        lines += 1
                        return nil
                    }
                }
                seconds = min(seconds, Self.now() - started)
            }
            let parseRate = megabytes / seconds
            let parseLines = Double(lines) / seconds / 1e6
            print("ilp parse\(memo == nil ? "         " : " (memo)  "): \(Int(parseRate.rounded())) MB/s, \(format2(parseLines)) M lines/s (\(lines) lines, \(Int(megabytes)) MB, one core, best of \(max(1, passes)))")
            if parseOnly { return }
        }

        // Parse + append into batches.
        let directory = TemporaryDirectory(prefix: "sundial-ilp-parse")
        let layout = DataDirectory(root: directory.path)
        let opened = try layout.open(initialRole: .standalone)
        let engine = try StorageEngine(layout: layout, configuration: StorageConfiguration())
        let ingestion = LineIngestion(engine: engine, configuration: LineIngestConfiguration(), nowNanos: { 0 })
        let ingestor = ingestion.makeIngestor()
        // Create the table first (an async schema change), outside the clock.
        var warm = LineStream(maxLineBytes: 1 << 20)
        warm.feed(chunks[0])
        try await LineIngestion.drain(&warm, into: ingestor, defaultUnit: .nanos)
        ingestor.discardAll()
        seconds = .infinity
        for _ in 0..<max(1, passes) {
            var stream = LineStream(maxLineBytes: 1 << 20)
            stream.use(ingestor.seriesMemo)
            lines = 0
            let started = Self.now()
            for chunk in chunks {
                stream.feed(chunk)
                while let change = try stream.drain({ (parser, buffer, line) throws(LineIngestError) in
                    lines += 1
                    return try ingestor.append(parser, in: buffer, line: line, defaultUnit: .nanos)
                }) {
                    try await ingestor.apply(change)
                }
                if ingestor.pendingRows >= 10_000 { ingestor.discardAll() }
            }
            ingestor.discardAll()
            seconds = min(seconds, Self.now() - started)
        }
        let appendRate = megabytes / seconds
        let appendLines = Double(lines) / seconds / 1e6
        let perLine = seconds / Double(lines) * 1e6
        print("ilp parse + append : \(Int(appendRate.rounded())) MB/s, \(format2(appendLines)) M lines/s (\(format2(perLine)) µs/line, one core)")
        withExtendedLifetime(opened) {}
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}

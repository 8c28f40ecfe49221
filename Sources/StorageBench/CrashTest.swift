import Storage
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The writer and checker of the kill -9 test (issue 3): the writer commits batches of
/// numbered rows (`seq` 1, 2, 3, … in random batch sizes, some out of order in time) in
/// `commitMode` and appends the highest acknowledged `seq` to the ack file after each commit
/// returns. After a kill, every acknowledged row must be present exactly once, and nothing
/// beyond the acknowledged rows but whole committed batches — in every mode: a process crash
/// leaves the page cache, so even `nosync` loses nothing it acknowledged (RELIABILITY §6.1 D2).
struct CrashTest {
    let dataDir: String
    let ackFile: String
    var commitMode: WALConfiguration.CommitMode = .sync

    static let schema = TableSchema(
        tableID: 0, name: "crash",
        columns: [
            ColumnSchema(id: 1, name: "seq", type: .long),
            ColumnSchema(id: 2, name: "tag", type: .symbol),
            ColumnSchema(id: 3, name: "note", type: .varchar),
            ColumnSchema(id: 4, name: "ts", type: .timestamp),
        ],
        designatedTimestamp: 4, partitionBy: .hour)

    func open() throws -> (OpenDataDirectory, StorageEngine) {
        let layout = DataDirectory(root: dataDir)
        let opened = try layout.open(initialRole: .standalone)
        // Small segments and frequent checkpoints put kills inside roll-overs and checkpoints.
        let configuration = StorageConfiguration(
            wal: WALConfiguration(commitMode: commitMode, segmentSizeBytes: 64 << 10), checkpointEveryTxns: 8)
        return (opened, try StorageEngine(layout: layout, configuration: configuration))
    }

    func write() async throws {
        let (opened, engine) = try open()
        let schema: TableSchema
        if let existing = engine.schema(named: "crash") {
            schema = existing
        } else {
            schema = try await engine.createTable(Self.schema)
        }
        var next = try highestSeq(engine) + 1
        let ack = Glibc.open(ackFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        precondition(ack >= 0, "cannot open ack file")
        var random = SplitMix64(seed: UInt64(getpid()))
        let batch = RowBatch(schema: schema)
        while true {
            batch.reset()
            let count = Int(random.next() % 50) + 1
            for _ in 0..<count {
                batch.beginRow()
                batch.setInteger(0, Int64(next))
                Array("t\(next % 7)".utf8).withUnsafeBytes { batch.setBytes(1, $0) }
                Array("row \(next)".utf8).withUnsafeBytes { batch.setBytes(2, $0) }
                // Mostly in order; every ninth row lands up to two hours in the past.
                let late = next % 9 == 0 ? Int64(random.next() % 7_200) * 1_000_000 : 0
                batch.setInteger(3, 1_700_000_000_000_000 + Int64(next) * 1_000_000 - late)
                try batch.endRow()
                next += 1
            }
            _ = try await engine.commit(batch)
            let line = Array("\(next - 1)\n".utf8)
            _ = line.withUnsafeBytes { Glibc.write(ack, $0.baseAddress, $0.count) }
        }
        withExtendedLifetime(opened) {}
    }

    struct Verdict {
        var passed: Bool
        var report: String
    }

    func verify() throws -> Verdict {
        let (opened, engine) = try open()
        defer { withExtendedLifetime(opened) {} }
        let acknowledged = ackedSeq()
        guard let snapshot = engine.snapshot(ofTable: "crash") else {
            return Verdict(passed: acknowledged == 0, report: "no table; acknowledged \(acknowledged)")
        }
        var seen = [Bool](repeating: false, count: snapshot.rowCount + Int(acknowledged) + 1)
        var duplicates = 0
        var maximum: Int64 = 0
        for partition in snapshot.partitions {
            let column = try snapshot.mapColumn(1, in: partition)
            column.withUnsafeBytes { bytes in
                for row in 0..<partition.rowCount {
                    let seq = bytes.loadUnaligned(fromByteOffset: row * 8, as: Int64.self)
                    maximum = max(maximum, seq)
                    if seq > 0 && Int(seq) < seen.count {
                        if seen[Int(seq)] { duplicates += 1 }
                        seen[Int(seq)] = true
                    } else {
                        duplicates += 1
                    }
                }
            }
        }
        let missing = (1..<max(1, Int(maximum) + 1)).filter { $0 < seen.count && !seen[$0] }.count
        let passed = duplicates == 0 && missing == 0 && maximum >= acknowledged
        return Verdict(
            passed: passed,
            report: "rows=\(snapshot.rowCount) max-seq=\(maximum) acknowledged=\(acknowledged) missing=\(missing) duplicates=\(duplicates)")
    }

    private func highestSeq(_ engine: StorageEngine) throws -> Int64 {
        guard let snapshot = engine.snapshot(ofTable: "crash") else { return 0 }
        var maximum: Int64 = 0
        for partition in snapshot.partitions {
            let column = try snapshot.mapColumn(1, in: partition)
            column.withUnsafeBytes { bytes in
                for row in 0..<partition.rowCount { maximum = max(maximum, bytes.loadUnaligned(fromByteOffset: row * 8, as: Int64.self)) }
            }
        }
        return maximum
    }

    private func ackedSeq() -> Int64 {
        guard let bytes = try? DurableFile.read(ackFile, maxBytes: 1 << 30) else { return 0 }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        return lines.compactMap { Int64($0) }.max() ?? 0
    }
}

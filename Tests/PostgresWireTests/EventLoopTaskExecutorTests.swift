// PG and HTTP connection tasks prefer their event loop; statements still never touch storage
// there: queries run on the SQL workers, writes (WAL appends, DDL files) on the global pool.
import NIOCore
import NIOPosix
import SQL
import Storage
import Synchronization
import Testing
import TestSupport

@Test func writesFromAnEventLoopPreferringTaskNeverRunStorageIOOnTheLoop() async throws {
    let onLoop = Atomic<Int>(0)
    let writes = Atomic<Int>(0)
    var io = StorageIO.system
    let pwrite = io.pwrite
    io.pwrite = { fd, bytes, offset in
        writes.add(1, ordering: .relaxed)
        if MultiThreadedEventLoopGroup.currentEventLoop != nil { onLoop.add(1, ordering: .relaxed) }
        return pwrite(fd, bytes, offset)
    }
    let directory = TemporaryDirectory(prefix: "sundial-loop-executor")
    let layout = DataDirectory(root: directory.path)
    _ = try layout.open(initialRole: .standalone)
    var configuration = StorageConfiguration()
    configuration.io = io
    let engine = SQLEngine(storage: try StorageEngine(layout: layout, configuration: configuration))
    let loop = MultiThreadedEventLoopGroup.singleton.next()

    let result = try await Task(executorPreference: EventLoopTaskExecutor(loop)) { () async throws -> (Bool, SQLOutcome) in
        let startedOnLoop = loop.inEventLoop
        _ = try await engine.execute("CREATE TABLE t (ts TIMESTAMP, v LONG) TIMESTAMP(ts) PARTITION BY DAY")
        _ = try await engine.execute("INSERT INTO t VALUES ('2024-01-01', 1), ('2024-01-02', 2)")
        return (startedOnLoop, try await engine.execute("SELECT sum(v) FROM t"))
    }.value
    #expect(result.0, "the task runs on the loop it prefers")
    guard case .rows(let rows) = result.1 else {
        Issue.record("a query returns rows")
        return
    }
    #expect(rows.textRows() == [["3"]])
    #expect(writes.load(ordering: .relaxed) > 0)
    #expect(onLoop.load(ordering: .relaxed) == 0)
}

// Proves a backlog's large column appends written with direct I/O (decision 0045) read back exactly —
// unaligned starts and ends, appends of every size after one another, across a reopen — keep
// their whole blocks out of the page cache, and fall back to the page cache when the file
// system refuses direct I/O; a single commit's appends stay in the page cache.
#if canImport(Glibc)
import Glibc
#endif
import Storage
import Testing
import TestSupport

@Suite struct DirectWriteTests {
    typealias Store = TableStoreTests

    /// Appends of 3, 4 997, 1, 7 000 and 20 000 rows (8-byte columns): starts and ends fall
    /// inside blocks and on them.
    static let appends = [0..<3, 3..<5_000, 5_000..<5_001, 5_001..<12_001, 12_001..<32_001]

    static func apply(_ store: TableStore) throws -> [Int64] {
        var all: [Int64] = []
        for (index, rows) in appends.enumerated() {
            let timestamps = rows.map { Int64($0) * 1_000 }
            try store.apply(try Store.batch(timestamps), txn: UInt64(index + 2))
            all += timestamps
        }
        return all
    }

    /// A table whose appends of 16 KiB or more may go direct, with `io` as `adjust` leaves it;
    /// `backlog`: applied as the applier applies a run of several commits.
    static func store(in directory: TemporaryDirectory, backlog: Bool, adjust: (inout StorageIO) -> Void = { _ in }) throws -> TableStore {
        var io = StorageIO.system
        io.directWriteMinBytes = 16 * 1_024
        adjust(&io)
        let store = try TableStore.create(in: directory.path, schema: Store.schema, txn: 1, io: io)
        store.appliesBacklog = backlog
        return store
    }

    /// Whether the `usage` column of the first partition holds row / 1 000 in each of `rows` rows.
    static func usageReadsBack(_ store: TableStore, rows: Int) throws -> Bool {
        let usage = try store.snapshot().mapColumn(1, in: store.snapshot().partitions[0])
        return usage.withUnsafeBytes { bytes in
            (0..<rows).allSatisfy { row in bytes.loadUnaligned(fromByteOffset: row * 8, as: Double.self) == Double(row) / 1e3 }
        }
    }

    /// Pages of the `usage` column's file in the page cache, of those it has (63).
    static func usagePages(_ store: TableStore) -> (resident: Int, total: Int) {
        residentPages(store.directory + "/1970-01-01/" + ColumnFiles.dataFileName(columnID: 1))
    }

    /// Pages of `path` in the page cache, of those it has.
    static func residentPages(_ path: String) -> (resident: Int, total: Int) {
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        var info = stat()
        fstat(fd, &info)
        let size = Int(info.st_size)
        guard size > 0, let map = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), map != MAP_FAILED else { return (0, 0) }
        defer { munmap(map, size) }
        let pages = (size + 4_095) / 4_096
        var vector = [UInt8](repeating: 0, count: pages)
        _ = mincore(map, size, &vector)
        return (vector.filter { $0 & 1 == 1 }.count, pages)
    }

    /// Whether the file system under `directory` takes direct I/O.
    static func takesDirectIO(_ directory: String) -> Bool {
        probe(directory) { StorageIO.system.setDirectIO?($0, true) == 0 }
    }

    /// `check` of a new file in `directory`, removed after.
    static func probe(_ directory: String, _ check: (Int32) -> Bool) -> Bool {
        let path = directory + "/probe"
        let fd = open(path, O_CREAT | O_RDWR, 0o644)
        defer {
            close(fd)
            unlink(path)
        }
        return check(fd)
    }

    @Test func largeAppendsReadBackAndStayOutOfThePageCache() throws {
        let directory = TemporaryDirectory()
        let store = try Self.store(in: directory, backlog: true)
        let written = try Self.apply(store)
        if Self.takesDirectIO(directory.path) {
            // Before anything reads it: of this column's 63 pages only the partial blocks at
            // the appends' ends (and the small appends) went through the page cache.
            let pages = Self.usagePages(store)
            #expect(pages.total == (32_001 * 8 + 4_095) / 4_096)
            #expect(pages.resident <= 8, "\(pages.resident) of \(pages.total) pages in the page cache")
        }
        #expect(try Store.timestamps(store.snapshot()) == written)
        try store.checkpoint()
        let reopened = try TableStore(directory: store.directory)
        #expect(try Store.timestamps(reopened.snapshot()) == written)
        #expect(try Self.usageReadsBack(reopened, rows: 32_001))
    }

    @Test func aFileSystemWithoutDirectIOIsWrittenThroughThePageCache() throws {
        let directory = TemporaryDirectory()
        let store = try Self.store(in: directory, backlog: true) { io in
            io.setDirectIO = { _, _ in
                errno = EINVAL
                return -1
            }
        }
        let written = try Self.apply(store)
        #expect(try Store.timestamps(store.snapshot()) == written)
    }

    /// A file system that takes the flag but refuses the direct writes themselves (EINVAL):
    /// the rest of each append goes through the page cache.
    @Test func directWritesRefusedMidwayFallBackToThePageCache() throws {
        let directory = TemporaryDirectory()
        let store = try Self.store(in: directory, backlog: true) { io in
            io.pwrite = { fd, bytes, offset in
                // Whole-block writes of 4 KiB multiples at aligned offsets are the direct ones.
                if bytes.count % 4_096 == 0 && offset % 4_096 == 0 && bytes.count >= 4_096 {
                    errno = EINVAL
                    return -1
                }
                return StorageIO.system.pwrite(fd, bytes, offset)
            }
        }
        let written = try Self.apply(store)
        #expect(try Store.timestamps(store.snapshot()) == written)
    }

    /// One commit, however large, goes through the page cache: the rows queries read next.
    @Test func aSingleCommitStaysInThePageCache() throws {
        let directory = TemporaryDirectory()
        let store = try Self.store(in: directory, backlog: false)
        _ = try Self.apply(store)
        let pages = Self.usagePages(store)
        #expect(pages.resident == pages.total && pages.total == (32_001 * 8 + 4_095) / 4_096)
    }
}

import Storage
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Simulated power loss (RELIABILITY §5.2) for everything Storage writes through `StorageIO`
/// (WAL segments, column files, symbol dictionaries, `_txn`, `_meta`, table and partition
/// directories). On `cut` it rolls the real files back to a state a power failure could leave:
///
/// - every write since its file's last fdatasync is independently kept, dropped, or torn at
///   512-byte granularity (latest writes undone first). Files are tracked by path, so a write
///   to a file closed since is still undone;
/// - every directory entry change (create, mkdir, rename, unlink, rmdir) since its directory's
///   last fsync is independently kept or lost, undone newest first: a lost create or mkdir
///   removes the entry (with everything under it), a lost rename moves the file back and
///   restores the entry it replaced, a lost unlink brings the file back. Replaced and removed
///   files are kept as hard links in a private stash until the cut decides.
package final class PowerLossIO: Sendable {
    private struct Write {
        var path: String
        var offset: Int
        var length: Int
        /// The bytes the write replaced (shorter than `length` where it extended the file).
        var before: [UInt8]
        /// File size before the write.
        var sizeBefore: Int
    }

    private enum EntryChange {
        case created(String)
        case madeDirectory(String)
        /// `replaced` is a stash link to the file `to` named before, if any.
        case renamed(from: String, to: String, replaced: String?)
        case removed(String, stash: String)
        case removedDirectory(String)
    }

    private struct PendingEntry {
        /// The directory whose fsync makes the change durable.
        var directory: String
        var change: EntryChange
    }

    private struct State {
        var unsynced: [Write] = []
        var entries: [PendingEntry] = []
        var stashed = 0
        var operations = 0
        var cutAfter: Int
        var dead = false
    }

    private let state: Mutex<State>
    /// Hard links need the data's file system: tests using `PowerLossIO` keep their data in
    /// `TemporaryDirectory(inMemory: true)` directories, and so does the stash.
    private let stash = TemporaryDirectory(prefix: "sundial-powerloss-stash", inMemory: true)

    /// Power fails after `cutAfter` write-path operations: later ones fail with EIO as if the
    /// machine were gone (the process is "dead" from then on).
    package init(cutAfter: Int = .max) {
        state = Mutex(State(cutAfter: cutAfter))
    }

    package var operations: Int { state.withLock { $0.operations } }
    package var isDead: Bool { state.withLock { $0.dead } }

    package var io: StorageIO {
        StorageIO(
            pwrite: { [self] fd, bytes, offset in
                guard tick() else {
                    errno = EIO
                    return -1
                }
                let path = PowerLossIO.path(of: fd)
                let size = PowerLossIO.size(fd)
                var before = [UInt8](repeating: 0, count: max(0, min(bytes.count, size - offset)))
                if !before.isEmpty { _ = before.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) } }
                let written = Glibc.pwrite(fd, bytes.baseAddress, bytes.count, off_t(offset))
                if written > 0 {
                    state.withLock {
                        $0.unsynced.append(Write(path: path, offset: offset, length: written, before: before, sizeBefore: size))
                    }
                }
                return written
            },
            fdatasync: { [self] fd in
                guard tick() else {
                    errno = EIO
                    return -1
                }
                let path = PowerLossIO.path(of: fd)
                // The simulation decides what survives a cut, so the disk need not: no real sync
                // keeps a cut cheap (hundreds run per `swift test`) while the engine sees the
                // same answers — success for an open descriptor, EBADF otherwise.
                let result = fcntl(fd, F_GETFD) == -1 ? Int32(-1) : 0
                if result == 0 { state.withLock { $0.unsynced.removeAll { $0.path == path } } }
                return result
            },
            ftruncate: { [self] fd, length in
                guard tick() else {
                    errno = EIO
                    return -1
                }
                return Glibc.ftruncate(fd, off_t(length))
            },
            create: { [self] path, flags, mode in
                guard tick() else {
                    errno = EIO
                    return -1
                }
                let existed = access(path, F_OK) == 0
                let fd = Glibc.open(path, flags | O_CREAT | O_CLOEXEC, mode)
                if fd >= 0 && !existed { record(.created(path), in: DurableFile.parentDirectory(of: path)) }
                return fd
            },
            mkdir: { [self] path, mode in
                guard tick() else {
                    errno = EIO
                    return -1
                }
                let result = Glibc.mkdir(path, mode)
                if result == 0 { record(.madeDirectory(path), in: DurableFile.parentDirectory(of: path)) }
                return result
            },
            rename: { [self] from, to in
                guard tick() else {
                    errno = EIO
                    return -1
                }
                let replaced = stashLink(to)
                let result = Glibc.rename(from, to)
                if result == 0 {
                    record(.renamed(from: from, to: to, replaced: replaced), in: DurableFile.parentDirectory(of: to))
                }
                return result
            },
            unlink: { [self] path in
                guard tick() else {
                    errno = EIO
                    return -1
                }
                let stashed = stashLink(path)
                let result = Glibc.unlink(path)
                if result == 0, let stashed { record(.removed(path, stash: stashed), in: DurableFile.parentDirectory(of: path)) }
                return result
            },
            rmdir: { [self] path in
                guard tick() else {
                    errno = EIO
                    return -1
                }
                let result = Glibc.rmdir(path)
                if result == 0 { record(.removedDirectory(path), in: DurableFile.parentDirectory(of: path)) }
                return result
            },
            syncDirectory: { [self] directory in
                guard tick() else {
                    errno = EIO
                    return -1
                }
                // As for fdatasync: the directory must open; durability is the simulation's.
                let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                if fd >= 0 { close(fd) }
                let result: Int32 = fd >= 0 ? 0 : -1
                if result == 0 { state.withLock { $0.entries.removeAll { $0.directory == directory } } }
                return result
            })
    }

    private func record(_ change: EntryChange, in directory: String) {
        state.withLock { $0.entries.append(PendingEntry(directory: directory, change: change)) }
    }

    /// A hard link to the regular file at `path` in the stash, or `nil` when there is none.
    private func stashLink(_ path: String) -> String? {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        let name = state.withLock { state -> String in
            state.stashed += 1
            return stash.appending("\(state.stashed)")
        }
        // A stash that cannot hold the file would quietly turn "restore what it replaced" into
        // "lose it" — a harness fault, not a storage one (data and stash on two file systems).
        let linked = link(path, name) == 0
        precondition(linked, "cannot stash \(path) (errno \(errno)): keep test data in TemporaryDirectory(inMemory: true)")
        return name
    }

    /// Rolls unsynced writes back as a power failure could, choosing with `random`.
    package func cut(using random: inout some RandomNumberGenerator) {
        let (writes, entries) = state.withLock { state -> ([Write], [PendingEntry]) in
            state.dead = true
            defer {
                state.unsynced = []
                state.entries = []
            }
            return (state.unsynced, state.entries)
        }
        for write in writes.reversed() {
            switch Int.random(in: 0..<3, using: &random) {
            case 0:
                continue  // the write reached the disk
            case 1:
                PowerLossIO.undo(write, keepingSectors: 0)
            default:
                // Torn: a prefix of whole 512-byte sectors made it, the rest did not.
                let sectors = (write.length + 511) / 512
                PowerLossIO.undo(write, keepingSectors: Int.random(in: 0..<max(1, sectors), using: &random))
            }
        }
        for entry in entries.reversed() where Bool.random(using: &random) {
            PowerLossIO.undo(entry.change)
        }
    }

    /// Puts a directory entry back as it was before `change`, where it still applies.
    private static func undo(_ change: EntryChange) {
        switch change {
        case .created(let path), .madeDirectory(let path):
            ColumnFiles.removeTree(path)
        case .renamed(let from, let to, let replaced):
            guard access(to, F_OK) == 0 else { return }
            _ = Glibc.rename(to, from)
            if let replaced { _ = link(replaced, to) }
        case .removed(let path, let stash):
            if access(path, F_OK) != 0 { _ = link(stash, path) }
        case .removedDirectory(let path):
            _ = Glibc.mkdir(path, 0o755)
        }
    }

    private func tick() -> Bool {
        state.withLock { state in
            guard !state.dead else { return false }
            state.operations += 1
            if state.operations > state.cutAfter {
                state.dead = true
                return false
            }
            return true
        }
    }

    private static func undo(_ write: Write, keepingSectors sectors: Int) {
        let kept = min(write.length, sectors * 512)
        let restoreStart = write.offset + kept
        let restoreEnd = write.offset + write.length
        guard restoreStart < restoreEnd else { return }
        // The file may be closed or gone by now (a removed partition version): reopen by path.
        let fd = Glibc.open(write.path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { Glibc.close(fd) }
        // Restore the overwritten bytes that existed before, then cut what the write appended.
        let beforeEnd = write.offset + write.before.count
        if restoreStart < beforeEnd {
            write.before[(restoreStart - write.offset)...].withUnsafeBytes {
                _ = Glibc.pwrite(fd, $0.baseAddress, $0.count, off_t(restoreStart))
            }
        }
        if restoreEnd > write.sizeBefore && size(fd) <= restoreEnd {
            _ = Glibc.ftruncate(fd, off_t(max(write.sizeBefore, restoreStart)))
        }
    }

    /// The file behind `fd`, from `/proc/self/fd` (Linux).
    private static func path(of fd: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
        guard count > 0 else { return "fd:\(fd)" }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func size(_ fd: Int32) -> Int {
        var info = stat()
        return fstat(fd, &info) == 0 ? Int(info.st_size) : 0
    }
}

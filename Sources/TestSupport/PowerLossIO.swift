import Storage
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Simulated power loss (RELIABILITY §5.2) for everything Storage writes through `StorageIO`
/// (WAL segments, column files, symbol dictionaries, `_txn`): records every write since its
/// file's last fdatasync with the bytes it overwrote, and on `cut` rolls the real files back to
/// a state a power failure could leave — each unsynced write independently kept, dropped, or
/// torn at 512-byte granularity (latest writes undone first). Files are tracked by path, so a
/// write to a file closed since is still undone.
///
/// Directory entries are not simulated: files created or renamed are taken as durable. Storage
/// fsyncs directories before relying on new entries (checked by review, not by this layer).
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

    private struct State {
        var unsynced: [Write] = []
        var operations = 0
        var cutAfter: Int
        var dead = false
    }

    private let state: Mutex<State>

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
                let result = Glibc.fdatasync(fd)
                if result == 0 { state.withLock { $0.unsynced.removeAll { $0.path == path } } }
                return result
            },
            ftruncate: { [self] fd, length in
                guard tick() else {
                    errno = EIO
                    return -1
                }
                return Glibc.ftruncate(fd, off_t(length))
            })
    }

    /// Rolls unsynced writes back as a power failure could, choosing with `random`.
    package func cut(using random: inout some RandomNumberGenerator) {
        let writes = state.withLock { state -> [Write] in
            state.dead = true
            defer { state.unsynced = [] }
            return state.unsynced
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

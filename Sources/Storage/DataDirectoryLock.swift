#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive `flock` on `node/lock`, held for the life of the process, so two nodes can
/// never run on one data directory (each would believe it owns the WAL).
///
/// The kernel drops the lock when the process dies, so a crash never leaves a stale lock.
package final class DataDirectoryLock: Sendable {
    private let descriptor: Int32
    package let path: String

    /// Takes the lock or throws `.locked` naming the holder's pid.
    package init(path: String) throws(StorageError) {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw StorageError(.io, path: path, "cannot open lock file", errno: errno) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let error = errno
            let holder = DataDirectoryLock.readHolder(fd)
            close(fd)
            if error == EWOULDBLOCK {
                throw StorageError(
                    .locked, path: path,
                    "the data directory is in use by another sundial process\(holder.map { " (pid \($0))" } ?? "")")
            }
            throw StorageError(.io, path: path, "cannot lock", errno: error)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.descriptor = fd
        self.path = path
    }

    deinit {
        close(descriptor)
    }

    private static func readHolder(_ fd: Int32) -> Int? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[0..<count], as: UTF8.self)
        return Int(text.split(separator: "\n").first ?? "")
    }
}

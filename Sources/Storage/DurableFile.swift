#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Small, blocking file operations with the durability Sundial's formats need.
///
/// These are the leaf functions that touch raw pointers and system calls (STYLE: unsafe code
/// only in a few named places). Callers run them off the NIO event loops.
package enum DurableFile {
    /// Reads a whole file of at most `maxBytes`; `nil` when it does not exist.
    package static func read(_ path: String, maxBytes: Int) throws(StorageError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let error = errno
            if error == ENOENT { return nil }
            throw StorageError(.io, path: path, "cannot open for reading", errno: error)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw StorageError(.io, path: path, "cannot stat", errno: errno) }
        let size = Int(info.st_size)
        if size > maxBytes {
            throw StorageError(.corrupt, path: path, "file is larger than the \(maxBytes) bytes this format allows")
        }
        // Sized once from fstat and read in place: no regrowth (WAL segments are 64 MiB).
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let count = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, size - done) }
            if count < 0 {
                if errno == EINTR { continue }
                throw StorageError(.io, path: path, "cannot read", errno: errno)
            }
            if count == 0 { break }
            done += count
        }
        if done < size { bytes.removeSubrange(done...) }
        return bytes
    }

    /// Replaces `path` with `bytes` so that a crash leaves either the old or the new content.
    ///
    /// Writes a temporary file beside it, fsyncs it, renames it over the target and fsyncs the
    /// directory so the rename itself is durable (the rename is what a reader sees).
    package static func replace(_ path: String, with bytes: [UInt8], mode: mode_t = 0o644, io: StorageIO) throws(StorageError) {
        let temporary = path + ".tmp"
        let fd = io.create(temporary, O_WRONLY | O_TRUNC, mode)
        if fd < 0 { throw StorageError(.io, path: temporary, "cannot create", errno: errno) }
        do throws(StorageError) {
            try writeAll(fd, bytes, path: temporary, io: io)
            if io.fdatasync(fd) != 0 { throw StorageError(.io, path: temporary, "fsync failed", errno: errno) }
        } catch {
            close(fd)
            _ = io.unlink(temporary)
            throw error
        }
        close(fd)
        if io.rename(temporary, path) != 0 {
            let error = errno
            _ = io.unlink(temporary)
            throw StorageError(.io, path: path, "cannot rename \(temporary) over it", errno: error)
        }
        try syncDirectory(containing: path, io: io)
    }

    /// Creates `path` (and missing parents) as a directory; fsyncs the parent of each one it creates.
    package static func createDirectory(_ path: String, io: StorageIO) throws(StorageError) {
        var isDirectory = false
        if exists(path, isDirectory: &isDirectory) {
            if isDirectory { return }
            throw StorageError(.io, path: path, "exists and is not a directory")
        }
        let parent = parentDirectory(of: path)
        if parent != path { try createDirectory(parent, io: io) }
        if io.mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw StorageError(.io, path: path, "cannot create directory", errno: errno)
        }
        try syncDirectory(containing: path, io: io)
    }

    /// Fsyncs the directory that holds `path`, making a create, rename or removal in it durable.
    package static func syncDirectory(containing path: String, io: StorageIO) throws(StorageError) {
        let directory = parentDirectory(of: path)
        if io.syncDirectory(directory) != 0 { throw StorageError(.io, path: directory, "directory fsync failed", errno: errno) }
    }

    /// Whether `path` exists; `isDirectory` tells its kind.
    package static func exists(_ path: String, isDirectory: inout Bool) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
        return true
    }

    /// The directory part of `path` ("." for a bare name).
    package static func parentDirectory(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String, io: StorageIO) throws(StorageError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                io.pwrite(fd, UnsafeRawBufferPointer(rebasing: raw[offset...]), offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw StorageError(.io, path: path, "write failed", errno: errno)
            }
            offset += written
        }
    }
}

import CFileIO
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// The write-path system calls of the WAL and the table files, as values, so a test can make
/// any of them fail or simulate power loss (`TestSupport`) and prove that nothing half-done is
/// ever acknowledged.
///
/// Data calls (`pwrite`, `fdatasync`, `ftruncate`) and namespace calls (`create`, `mkdir`,
/// `rename`, `unlink`, `rmdir`, `syncDirectory`) are both here: a directory entry that was
/// never made durable by a directory fsync can vanish in a power loss just like an unsynced
/// write, and the simulation needs to see both.
///
/// Each returns what the system call returns and leaves the error in `errno`.
package struct StorageIO: Sendable {
    package var pwrite: @Sendable (_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ offset: Int) -> Int
    package var fdatasync: @Sendable (_ fd: Int32) -> Int32
    package var ftruncate: @Sendable (_ fd: Int32, _ length: Int) -> Int32
    /// `open(2)` with `O_CREAT` among `flags`: the one open that can add a directory entry.
    package var create: @Sendable (_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32
    package var mkdir: @Sendable (_ path: String, _ mode: mode_t) -> Int32
    package var rename: @Sendable (_ from: String, _ to: String) -> Int32
    package var unlink: @Sendable (_ path: String) -> Int32
    package var rmdir: @Sendable (_ path: String) -> Int32
    /// Opens the directory and fsyncs it: every entry change in it so far becomes durable.
    package var syncDirectory: @Sendable (_ directory: String) -> Int32
    /// Hands a written range to writeback without waiting (decision 0035): a hint that promises
    /// nothing, so a later fdatasync has less to do. Simulations ignore it.
    package var startWriteback: @Sendable (_ fd: Int32, _ offset: Int, _ length: Int) -> Void
    /// Turns direct I/O on or off for a file (decision 0045): `pwrite` then writes whole
    /// aligned blocks past the page cache. `nil` — simulations, or direct writes switched off —
    /// writes every column byte through the page cache.
    package var setDirectIO: (@Sendable (_ fd: Int32, _ on: Bool) -> Int32)?
    /// A column append at least this large is written with direct I/O where `setDirectIO` allows.
    package var directWriteMinBytes = 1 << 20
    /// Allocates a file's blocks ahead of its appends without changing its length (decision
    /// 0046); `nil` — simulations, which model contents and lengths only — allocates nothing.
    package var preallocate: (@Sendable (_ fd: Int32, _ offset: Int, _ length: Int) -> Int32)?
    /// Frees what `preallocate` allocated past a file's end (its contents and length stay).
    package var releasePreallocated: @Sendable (_ fd: Int32) -> Void = { _ in }

    package init(
        pwrite: @escaping @Sendable (Int32, UnsafeRawBufferPointer, Int) -> Int,
        fdatasync: @escaping @Sendable (Int32) -> Int32,
        ftruncate: @escaping @Sendable (Int32, Int) -> Int32,
        create: @escaping @Sendable (String, Int32, mode_t) -> Int32 = StorageIO.system.create,
        mkdir: @escaping @Sendable (String, mode_t) -> Int32 = StorageIO.system.mkdir,
        rename: @escaping @Sendable (String, String) -> Int32 = StorageIO.system.rename,
        unlink: @escaping @Sendable (String) -> Int32 = StorageIO.system.unlink,
        rmdir: @escaping @Sendable (String) -> Int32 = StorageIO.system.rmdir,
        syncDirectory: @escaping @Sendable (String) -> Int32 = StorageIO.system.syncDirectory,
        startWriteback: @escaping @Sendable (Int32, Int, Int) -> Void = { _, _, _ in }
    ) {
        self.pwrite = pwrite
        self.fdatasync = fdatasync
        self.ftruncate = ftruncate
        self.create = create
        self.mkdir = mkdir
        self.rename = rename
        self.unlink = unlink
        self.rmdir = rmdir
        self.syncDirectory = syncDirectory
        self.startWriteback = startWriteback
        self.setDirectIO = nil
        self.preallocate = nil
    }

    private init(system: Void) {
        pwrite = { fd, bytes, offset in Glibc.pwrite(fd, bytes.baseAddress, bytes.count, off_t(offset)) }
        fdatasync = { fd in Glibc.fdatasync(fd) }
        ftruncate = { fd, length in Glibc.ftruncate(fd, off_t(length)) }
        create = { path, flags, mode in Glibc.open(path, flags | O_CREAT | O_CLOEXEC, mode) }
        mkdir = { path, mode in Glibc.mkdir(path, mode) }
        rename = { from, to in Glibc.rename(from, to) }
        unlink = { path in Glibc.unlink(path) }
        rmdir = { path in Glibc.rmdir(path) }
        syncDirectory = { directory in
            let fd = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { return -1 }
            defer { Glibc.close(fd) }
            return Glibc.fsync(fd)
        }
        // sync_file_range can wait for the device queue: it runs on its own queue, never on the
        // applier, with its own descriptor (the caller may close the file meanwhile). Failure
        // (a file system without it) only loses the hint.
        startWriteback = { fd, offset, length in
            let own = Glibc.dup(fd)
            guard own >= 0 else { return }
            StorageIO.writebackQueue.async {
                _ = sundial_start_writeback(own, Int64(offset), Int64(length))
                Glibc.close(own)
            }
        }
        setDirectIO = { fd, on in sundial_set_direct_io(fd, on ? 1 : 0) }
        preallocate = { fd, offset, length in sundial_preallocate(fd, Int64(offset), Int64(length)) }
        // A failure leaves the blocks allocated: space, never data.
        releasePreallocated = { fd in _ = sundial_release_preallocated(fd) }
    }

    private static let writebackQueue = DispatchQueue(label: "sundial.writeback", qos: .utility)

    /// The real system calls.
    package static let system = StorageIO(system: ())
}

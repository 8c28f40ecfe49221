#if canImport(Glibc)
import Glibc
#endif

/// The write-path system calls of the WAL and the table files, as values, so a test can make
/// any of them fail or simulate power loss (`TestSupport`) and prove that nothing half-done is
/// ever acknowledged.
///
/// Each returns what the system call returns and leaves the error in `errno`.
package struct StorageIO: Sendable {
    package var pwrite: @Sendable (_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ offset: Int) -> Int
    package var fdatasync: @Sendable (_ fd: Int32) -> Int32
    package var ftruncate: @Sendable (_ fd: Int32, _ length: Int) -> Int32

    package init(
        pwrite: @escaping @Sendable (Int32, UnsafeRawBufferPointer, Int) -> Int,
        fdatasync: @escaping @Sendable (Int32) -> Int32,
        ftruncate: @escaping @Sendable (Int32, Int) -> Int32
    ) {
        self.pwrite = pwrite
        self.fdatasync = fdatasync
        self.ftruncate = ftruncate
    }

    /// The real system calls.
    package static let system = StorageIO(
        pwrite: { fd, bytes, offset in Glibc.pwrite(fd, bytes.baseAddress, bytes.count, off_t(offset)) },
        fdatasync: { fd in Glibc.fdatasync(fd) },
        ftruncate: { fd, length in Glibc.ftruncate(fd, off_t(length)) })
}

import Storage
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Makes chosen system calls of the storage write path fail, SQLite-style: "fail the Nth
/// call", so a test can sweep N over every call a workload makes.
package final class FaultInjectingIO: Sendable {
    package enum Call: Sendable, Equatable {
        case pwrite
        case fdatasync
        case ftruncate
    }

    package struct Fault: Sendable {
        /// 1-based index among all injectable calls (of `only`, when set).
        package var at: Int
        package var only: Call?
        package var errno: Int32
        /// For `pwrite`: write this many bytes first, then fail (a short write).
        package var partialBytes: Int

        package init(at: Int, only: Call? = nil, errno: Int32 = EIO, partialBytes: Int = 0) {
            self.at = at
            self.only = only
            self.errno = errno
            self.partialBytes = partialBytes
        }
    }

    private struct State {
        var calls = 0
        var callsByKind: [String: Int] = [:]
        var faults: [Fault] = []
        var injected = 0
    }

    private let state = Mutex(State())

    package init(_ faults: [Fault] = []) {
        state.withLock { $0.faults = faults }
    }

    /// Calls counted so far (all kinds, or matching faults' filters).
    package var calls: Int { state.withLock { $0.calls } }
    package var injected: Int { state.withLock { $0.injected } }

    /// The `StorageIO` to hand to the component under test.
    package var io: StorageIO {
        StorageIO(
            pwrite: { [self] fd, bytes, offset in
                if let fault = take(.pwrite) {
                    if fault.partialBytes > 0 {
                        _ = Glibc.pwrite(fd, bytes.baseAddress, min(fault.partialBytes, bytes.count), off_t(offset))
                    }
                    errno = fault.errno
                    return -1
                }
                return Glibc.pwrite(fd, bytes.baseAddress, bytes.count, off_t(offset))
            },
            fdatasync: { [self] fd in
                if let fault = take(.fdatasync) {
                    errno = fault.errno
                    return -1
                }
                return Glibc.fdatasync(fd)
            },
            ftruncate: { [self] fd, length in
                if let fault = take(.ftruncate) {
                    errno = fault.errno
                    return -1
                }
                return Glibc.ftruncate(fd, off_t(length))
            })
    }

    private func take(_ call: Call) -> Fault? {
        state.withLock { state in
            state.calls += 1
            let kindCount = (state.callsByKind["\(call)"] ?? 0) + 1
            state.callsByKind["\(call)"] = kindCount
            let index = state.faults.firstIndex { fault in
                fault.only.map { $0 == call && fault.at == kindCount } ?? (fault.at == state.calls)
            }
            guard let index else { return nil }
            state.injected += 1
            return state.faults.remove(at: index)
        }
    }
}

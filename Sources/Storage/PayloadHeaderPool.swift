import Synchronization

/// Headers arrays of large WAL payloads, kept for the next commits. A 500 000-row ILP/TCP
/// commit narrows its integer and SYMBOL columns into ~13 MB of codes with its headers; glibc
/// maps an array that large afresh each time (decision 0036: blocks of 8 MiB and more), and
/// every page of it faulted in again — ~6 faults per 1 000 rows. Small arrays come from the
/// heap warm and are not kept.
package final class PayloadHeaderPool: Sendable {
    private let buffers = PlainMutex<[[UInt8]]>([])
    /// Arrays kept (concurrent large commits beyond this allocate as before).
    package static let kept = 2
    /// Smallest capacity worth keeping: glibc's mmap threshold (decision 0036); smaller arrays
    /// go back to the heap when freed and come out of it warm.
    package static let smallest = 8 << 20
    /// Largest capacity kept: a rare huge commit does not pin its memory.
    package static let largest = 64 << 20

    package init() {}

    package func take() -> [UInt8] { buffers.withLock { $0.popLast() } ?? [] }

    package func give(_ headers: [UInt8]) {
        guard headers.capacity >= Self.smallest, headers.capacity <= Self.largest else { return }
        buffers.withLock { buffers in
            if buffers.count < Self.kept { buffers.append(headers) }
        }
    }
}

import CFileIO

/// How the process's C heap gives memory back to the kernel (decision 0036).
///
/// glibc returns the free top of a heap to the kernel as soon as it exceeds 128 KiB, and only
/// raises that threshold after the program frees a block large enough to have been mmapped.
/// A node that never frees such a block keeps the 128 KiB default, so every request that
/// allocates and frees a few 64 KiB buffers (NIO's receive buffers, encoders) gives the pages
/// back and faults them in again — zeroed by the kernel, and on a VM with free page reporting
/// supplied again by the host. The values set here are the ones glibc's own dynamic rule
/// reaches after its first large free, set from the start.
package enum HeapPolicy {
    /// Blocks from this size up are mmapped (and returned whole when freed).
    package static let mmapThreshold: Int32 = 8 << 20
    /// The free top of a heap is returned to the kernel past this size.
    package static let trimThreshold: Int32 = 32 << 20

    /// Applies the policy unless the operator tuned glibc's allocator through its own
    /// environment variables; returns whether it was applied.
    @discardableResult
    package static func apply(environment: [String: String]) -> Bool {
        let operatorKeys = ["GLIBC_TUNABLES", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_"]
        guard !operatorKeys.contains(where: { environment[$0] != nil }) else { return false }
        // A refused value leaves glibc's default in place.
        return sundial_set_heap_thresholds(mmapThreshold, trimThreshold) == 1
    }
}

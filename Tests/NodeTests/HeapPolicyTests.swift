import Testing

import Node

@Suite struct HeapPolicyTests {
    /// The thresholds are accepted by this C library (a refused value would leave the 128 KiB
    /// trim threshold that made every request fault its buffers in again).
    @Test func appliesWithoutOperatorSettings() {
        #expect(HeapPolicy.apply(environment: ["PATH": "/usr/bin"]))
    }

    /// An operator who tunes glibc's allocator through its environment keeps those settings.
    @Test(arguments: ["GLIBC_TUNABLES", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_"])
    func operatorSettingsWin(_ key: String) {
        #expect(!HeapPolicy.apply(environment: [key: "1048576"]))
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Metrics

/// Process metrics refreshed at each scrape: resident memory, file descriptors, start time and
/// uptime, under the names Prometheus' own process collectors use, plus QuestDB's
/// `questdb_memory_rss`, so existing dashboards find them.
final class ProcessMetrics: Sendable {
    private let residentMemory = Gauge(label: "process_resident_memory_bytes")
    private let questDBResidentMemory = Gauge(label: "questdb_memory_rss")
    private let openDescriptors = Gauge(label: "process_open_fds")
    private let maxDescriptors = Gauge(label: "process_max_fds")
    private let startTime = Gauge(label: "process_start_time_seconds")
    private let uptime = Gauge(label: "sundial_uptime_seconds")
    private let startedAtSeconds: Double
    private let startedMonotonic: UInt64

    init(version: String) {
        startedAtSeconds = ProcessMetrics.clock(CLOCK_REALTIME)
        startedMonotonic = UInt64(ProcessMetrics.clock(CLOCK_MONOTONIC) * 1e9)
        Gauge(label: "sundial_build_info", dimensions: [("version", version)]).record(1)
        startTime.record(startedAtSeconds)
    }

    /// Reads the current values from `/proc` and the clock.
    func refresh() {
        let nowMonotonic = UInt64(ProcessMetrics.clock(CLOCK_MONOTONIC) * 1e9)
        uptime.record(Double(nowMonotonic - startedMonotonic) / 1e9)
        if let rss = ProcessMetrics.residentBytes() {
            residentMemory.record(rss)
            questDBResidentMemory.record(rss)
        }
        if let open = ProcessMetrics.openDescriptorCount() { openDescriptors.record(open) }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { maxDescriptors.record(Int64(clamping: limit.rlim_cur)) }
    }

    private static func clock(_ id: clockid_t) -> Double {
        var time = timespec()
        clock_gettime(id, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// Second field of `/proc/self/statm` (resident pages) times the page size.
    private static func residentBytes() -> Int64? {
        let fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        let fields = buffer[0..<count].split(separator: UInt8(ascii: " "))
        guard fields.count > 1, let pages = Int64(String(decoding: fields[1], as: UTF8.self)) else { return nil }
        return pages * Int64(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Entries of `/proc/self/fd`, less the one the count itself opens.
    private static func openDescriptorCount() -> Int64? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count: Int64 = 0
        while let entry = readdir(directory) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { $0.first == UInt8(ascii: ".") }
            if !isDot { count += 1 }
        }
        return count - 1
    }
}

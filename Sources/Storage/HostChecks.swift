#if canImport(Glibc)
import Glibc
#endif

/// A host setting that puts the node's data or its operation at risk: logged at start-up and
/// listed by `GET /warnings` (QuestDB's Web Console shows these; QUESTDB-COMPAT §3.5).
package struct HostWarning: Sendable, Equatable {
    /// QuestDB's tags: `UNSUPPORTED FILE SYSTEM`, `TOO MANY OPEN FILES`, `OUT OF MMAP AREAS`.
    package var tag: String
    package var warning: String

    package init(tag: String, warning: String) {
        self.tag = tag
        self.warning = warning
    }
}

/// The checks behind `HostWarning`: what the host says (`Facts`, read once per call) and what
/// it means (`warnings`, pure).
package enum HostChecks {
    /// Every column file of every mapped partition holds a descriptor and a mapping while
    /// queries run, so both limits are asked to be as high as QuestDB asks them to be.
    package static let recommendedLimit: Int64 = 1_048_576

    package struct Facts: Sendable {
        package var dataDirectory: String
        /// The process's soft `RLIMIT_NOFILE` (`ulimit -n`).
        package var openFilesLimit: Int64?
        /// `/proc/sys/vm/max_map_count`: memory mappings one process may hold.
        package var maxMapCount: Int64?
        /// The type of the file system holding the data directory, as `/proc/self/mountinfo`
        /// names it (`ext4`, `xfs`, `nfs4`, `tmpfs`, …).
        package var fileSystemType: String?

        package init(dataDirectory: String, openFilesLimit: Int64?, maxMapCount: Int64?, fileSystemType: String?) {
            self.dataDirectory = dataDirectory
            self.openFilesLimit = openFilesLimit
            self.maxMapCount = maxMapCount
            self.fileSystemType = fileSystemType
        }
    }

    /// File systems a node must not keep its data on: network and shared-folder file systems
    /// do not give `mmap` and `fdatasync` the local meaning the WAL's durability rests on;
    /// memory file systems lose everything at a reboot, so an acknowledged write would not
    /// survive one.
    static let unsupportedFileSystems: Set<String> = [
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "vboxsf", "fuse.sshfs", "tmpfs", "ramfs",
    ]

    /// What `facts` warn about, in QuestDB's order (file system, open files, mappings).
    package static func warnings(_ facts: Facts) -> [HostWarning] {
        var warnings: [HostWarning] = []
        if let type = facts.fileSystemType, unsupportedFileSystems.contains(type) {
            warnings.append(HostWarning(
                tag: "UNSUPPORTED FILE SYSTEM", warning: "Unsupported file system [dir=\(facts.dataDirectory), type=\(type)]"))
        }
        if let limit = facts.openFilesLimit, limit < recommendedLimit {
            warnings.append(HostWarning(
                tag: "TOO MANY OPEN FILES",
                warning: "open files limit (ulimit -n) is too low [current=\(limit), recommended=\(recommendedLimit)]"))
        }
        if let count = facts.maxMapCount, count < recommendedLimit {
            warnings.append(HostWarning(
                tag: "OUT OF MMAP AREAS",
                warning: "vm.max_map_count limit is too low [current=\(count), recommended=\(recommendedLimit)]"))
        }
        return warnings
    }

    /// This host's facts for a node keeping its data in `dataDirectory`. A fact that cannot
    /// be read is nil, and warns about nothing.
    package static func facts(dataDirectory: String) -> Facts {
        var limit = rlimit()
        // RLIM_INFINITY is all ones.
        let openFiles: Int64? = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 && limit.rlim_cur != rlim_t.max
            ? Int64(clamping: limit.rlim_cur) : nil
        let maxMapCount = readFile("/proc/sys/vm/max_map_count", limit: 64)
            .flatMap { Int64(String(decoding: $0.prefix { $0 >= 0x30 && $0 <= 0x39 }, as: UTF8.self)) }
        var resolved = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let path = realpath(dataDirectory, &resolved) != nil
            ? String(decoding: resolved.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : dataDirectory
        let type = readFile("/proc/self/mountinfo", limit: 4 << 20).flatMap {
            fileSystemType(of: path, mountInfo: String(decoding: $0, as: UTF8.self))
        }
        return Facts(dataDirectory: dataDirectory, openFilesLimit: openFiles, maxMapCount: maxMapCount, fileSystemType: type)
    }

    /// The file system type of the mount holding absolute path `path`, from the text of
    /// `/proc/self/mountinfo`: the longest mount point that contains it (the last one listed
    /// when mounts are stacked on one point).
    package static func fileSystemType(of path: String, mountInfo: String) -> String? {
        var best: (length: Int, type: String)?
        for line in mountInfo.split(separator: "\n") {
            // `id parent major:minor root mountpoint options [optional…] - type source super`
            let fields = line.split(separator: " ")
            guard fields.count > 4, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count else { continue }
            let point = unescapeMountField(fields[4])
            let contains = point == "/" || path == point || path.hasPrefix(point + "/")
            guard contains, point.utf8.count >= (best?.length ?? 0) else { continue }
            best = (point.utf8.count, String(fields[dash + 1]))
        }
        return best?.type
    }

    /// mountinfo writes space, tab, newline and backslash in paths as `\ooo` octal escapes.
    private static func unescapeMountField(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        let raw = Array(field.utf8)
        var index = 0
        while index < raw.count {
            if raw[index] == UInt8(ascii: "\\"), index + 3 < raw.count,
                let value = UInt8(String(decoding: raw[(index + 1)...(index + 3)], as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(raw[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Up to `limit` bytes of a file, or nil. Read to its end, not to its size: a `/proc` file
    /// reports size 0, so `DurableFile.read` (sized by `fstat`) would read nothing.
    private static func readFile(_ path: String, limit: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        while bytes.count < limit {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes.isEmpty ? nil : bytes
    }
}

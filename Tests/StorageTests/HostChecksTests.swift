// What the host checks warn about, and which mount holds a path (`/proc/self/mountinfo` text).
import Storage
import Testing

@Suite struct HostChecksTests {
    static let mountInfo = """
        22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
        30 22 0:26 / /tmp rw,nosuid shared:5 - tmpfs tmpfs rw
        31 22 0:40 / /data rw,relatime shared:6 - nfs4 server:/export rw,vers=4.2
        32 31 8:17 / /data/local rw,relatime shared:7 - xfs /dev/sdb1 rw
        33 22 0:41 / /mnt/my\\040disk rw - btrfs /dev/sdc1 rw
        34 22 8:33 / /stacked rw - ext4 /dev/sdd1 rw
        35 34 0:42 / /stacked rw - tmpfs tmpfs rw
        """

    @Test(arguments: [
        ("/", "ext4"), ("/var/lib/sundial", "ext4"), ("/tmp/node", "tmpfs"), ("/tmp", "tmpfs"),
        ("/data/db", "nfs4"), ("/data/local/db", "xfs"), ("/database", "ext4"), ("/data/localdb", "nfs4"),
        ("/mnt/my disk/db", "btrfs"), ("/stacked/db", "tmpfs"),
    ])
    func theLongestMountPointHoldingThePathGivesTheType(path: String, type: String) {
        #expect(HostChecks.fileSystemType(of: path, mountInfo: Self.mountInfo) == type)
    }

    @Test func noMountsNoType() {
        #expect(HostChecks.fileSystemType(of: "/x", mountInfo: "") == nil)
        #expect(HostChecks.fileSystemType(of: "/x", mountInfo: "garbage line\n") == nil)
    }

    static func facts(files: Int64? = 1 << 20, maps: Int64? = 1 << 20, type: String? = "ext4") -> HostChecks.Facts {
        HostChecks.Facts(dataDirectory: "/db", openFilesLimit: files, maxMapCount: maps, fileSystemType: type)
    }

    @Test func aWellSetHostHasNoWarnings() {
        #expect(HostChecks.warnings(Self.facts()).isEmpty)
        #expect(HostChecks.warnings(Self.facts(files: nil, maps: nil, type: nil)).isEmpty)
        #expect(HostChecks.warnings(Self.facts(type: "xfs")).isEmpty)
    }

    @Test func lowLimitsWarnWithTheirValues() {
        let warnings = HostChecks.warnings(Self.facts(files: 1024, maps: 65530))
        #expect(warnings == [
            HostWarning(tag: "TOO MANY OPEN FILES", warning: "open files limit (ulimit -n) is too low [current=1024, recommended=1048576]"),
            HostWarning(tag: "OUT OF MMAP AREAS", warning: "vm.max_map_count limit is too low [current=65530, recommended=1048576]"),
        ])
        #expect(HostChecks.warnings(Self.facts(files: HostChecks.recommendedLimit - 1)).count == 1)
        #expect(HostChecks.warnings(Self.facts(maps: HostChecks.recommendedLimit)).isEmpty)
    }

    @Test(arguments: ["nfs", "nfs4", "cifs", "tmpfs", "ramfs", "9p"])
    func networkAndMemoryFileSystemsWarnFirst(type: String) {
        let warnings = HostChecks.warnings(Self.facts(files: 10, type: type))
        #expect(warnings.map(\.tag) == ["UNSUPPORTED FILE SYSTEM", "TOO MANY OPEN FILES"])
        #expect(warnings.first?.warning == "Unsupported file system [dir=/db, type=\(type)]")
    }

    @Test func thisHostsFactsAreRead() {
        let facts = HostChecks.facts(dataDirectory: "/")
        #expect(facts.fileSystemType != nil)
        #expect((facts.openFilesLimit ?? 1) > 0)
    }
}

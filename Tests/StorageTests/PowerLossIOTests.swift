// The power-loss simulation itself: unsynced directory entries can vanish, synced ones stay.
import Storage
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

@Suite struct PowerLossIOTests {
    static func exists(_ path: String) -> Bool {
        var isDirectory = false
        return DurableFile.exists(path, isDirectory: &isDirectory)
    }

    /// Runs `body` against a fresh directory, cuts the power with each of `seeds`, and returns
    /// which paths of `probe` existed after each cut.
    static func outcomes(
        seeds: ClosedRange<UInt64> = 1...32, probe: [String],
        _ body: (StorageIO, String) throws -> Void
    ) throws -> Set<[Bool]> {
        var seen = Set<[Bool]>()
        for seed in seeds {
            let directory = TemporaryDirectory(inMemory: true)
            let power = PowerLossIO()
            try body(power.io, directory.path)
            var random = SplitMix64(seed: seed)
            power.cut(using: &random)
            seen.insert(probe.map { exists(directory.appending($0)) })
        }
        return seen
    }

    static func createFile(_ io: StorageIO, _ path: String) {
        let fd = io.create(path, O_WRONLY, 0o644)
        precondition(fd >= 0)
        close(fd)
    }

    @Test func anUnsyncedCreateMayVanishASyncedOneStays() throws {
        let seen = try Self.outcomes(probe: ["a", "b"]) { io, root in
            Self.createFile(io, root + "/a")
            #expect(io.syncDirectory(root) == 0)
            Self.createFile(io, root + "/b")
        }
        #expect(seen == [[true, true], [true, false]])
    }

    @Test func anUnsyncedMkdirTakesItsContentsAlong() throws {
        let seen = try Self.outcomes(probe: ["d", "d/f"]) { io, root in
            #expect(io.mkdir(root + "/d", 0o755) == 0)
            Self.createFile(io, root + "/d/f")
            #expect(io.syncDirectory(root + "/d") == 0)
        }
        #expect(seen == [[true, true], [false, false]])
    }

    @Test func anUnsyncedRenameMayRevertAndRestoreWhatItReplaced() throws {
        var contents = Set<[UInt8]>()
        for seed: UInt64 in 1...32 {
            let directory = TemporaryDirectory(inMemory: true)
            let power = PowerLossIO()
            try DurableFile.replace(directory.appending("target"), with: [1], io: .system)
            try DurableFile.replace(directory.appending("new"), with: [2], io: .system)
            #expect(power.io.rename(directory.appending("new"), directory.appending("target")) == 0)
            var random = SplitMix64(seed: seed)
            power.cut(using: &random)
            let target = try DurableFile.read(directory.appending("target"), maxBytes: 16)
            contents.insert(target ?? [])
            #expect(Self.exists(directory.appending("new")) == (target == [1]))
        }
        #expect(contents == [[1], [2]])
    }

    @Test func anUnsyncedUnlinkMayBringTheFileBack() throws {
        let seen = try Self.outcomes(probe: ["a", "b"]) { io, root in
            try DurableFile.replace(root + "/a", with: [1], io: .system)
            try DurableFile.replace(root + "/b", with: [2], io: .system)
            #expect(io.unlink(root + "/a") == 0)
            #expect(io.syncDirectory(root) == 0)
            #expect(io.unlink(root + "/b") == 0)
        }
        #expect(seen == [[false, true], [false, false]])
    }
}

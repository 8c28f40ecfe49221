// Proves a data directory gets its layout and a stable identity, and that two processes cannot share it.
import Storage
import Testing
import TestSupport

@Suite struct DataDirectoryTests {
    @Test func firstOpenCreatesTheLayoutAndIdentity() throws {
        let temporary = TemporaryDirectory()
        let directory = DataDirectory(root: temporary.appending("data/"))
        let opened = try directory.open(initialRole: .standalone)
        #expect(opened.identityCreated)
        #expect(opened.identity.role == .standalone && opened.identity.epoch == 0)
        for path in [directory.configurationDirectory, directory.nodeDirectory, directory.walDirectory, directory.tablesDirectory] {
            var isDirectory = false
            #expect(DurableFile.exists(path, isDirectory: &isDirectory) && isDirectory, "\(path)")
        }
        var isDirectory = false
        #expect(!DurableFile.exists(directory.identityPath + ".tmp", isDirectory: &isDirectory))
    }

    @Test func laterOpensKeepTheIdentity() throws {
        let temporary = TemporaryDirectory()
        let directory = DataDirectory(root: temporary.path)
        let first = try directory.open(initialRole: .standalone).identity
        let second = try directory.open(initialRole: .primary)
        #expect(!second.identityCreated)
        #expect(second.identity == first)
    }

    @Test func aHeldDirectoryIsRefused() throws {
        let temporary = TemporaryDirectory()
        let directory = DataDirectory(root: temporary.path)
        let held = try directory.open(initialRole: .standalone)
        let error = #expect(throws: StorageError.self) { try directory.open(initialRole: .standalone) }
        #expect(error?.code == .locked)
        withExtendedLifetime(held) {}
    }

    @Test func aDamagedIdentityStopsTheOpen() throws {
        let temporary = TemporaryDirectory()
        let directory = DataDirectory(root: temporary.path)
        _ = try directory.open(initialRole: .standalone)
        var bytes = try #require(try DurableFile.read(directory.identityPath, maxBytes: 4096))
        bytes[30] ^= 0x01
        try DurableFile.replace(directory.identityPath, with: bytes, io: .system)
        let error = #expect(throws: StorageError.self) { try directory.open(initialRole: .standalone) }
        #expect(error?.code == .corrupt)
        #expect(error?.path == directory.identityPath)
    }
}

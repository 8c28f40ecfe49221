// Proves atomic replacement leaves exactly the new content and no temporary file, and reads are bounded.
import Storage
import Testing
import TestSupport

@Suite struct DurableFileTests {
    @Test func replaceWritesTheNewContent() throws {
        let temporary = TemporaryDirectory()
        let path = temporary.appending("file")
        try DurableFile.replace(path, with: Array("old".utf8), io: .system)
        try DurableFile.replace(path, with: Array("new content".utf8), io: .system)
        #expect(try DurableFile.read(path, maxBytes: 100) == Array("new content".utf8))
        var isDirectory = false
        #expect(!DurableFile.exists(path + ".tmp", isDirectory: &isDirectory))
    }

    @Test func missingFilesReadAsNil() throws {
        let temporary = TemporaryDirectory()
        #expect(try DurableFile.read(temporary.appending("absent"), maxBytes: 10) == nil)
    }

    @Test func readsAreBounded() throws {
        let temporary = TemporaryDirectory()
        let path = temporary.appending("big")
        try DurableFile.replace(path, with: [UInt8](repeating: 1, count: 100), io: .system)
        #expect(throws: StorageError.self) { try DurableFile.read(path, maxBytes: 99) }
    }

    @Test(arguments: [("a/b/c", "a/b"), ("/a", "/"), ("name", "."), ("a/b/", "a")])
    func parentDirectory(path: String, parent: String) {
        #expect(DurableFile.parentDirectory(of: path) == parent)
    }
}

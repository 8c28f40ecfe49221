import Storage

#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under the system temp dir, removed when the value is released.
package final class TemporaryDirectory: Sendable {
    package let path: String

    /// `inMemory`: under `/dev/shm` when the host has it — for tests whose durability is
    /// simulated (`PowerLossIO`) and which create thousands of files: ext4's inode allocation
    /// was most of their time in `/tmp`.
    package init(prefix: String = "sundial-test", inMemory: Bool = false) {
        var isDirectory = false
        let base = inMemory && DurableFile.exists("/dev/shm", isDirectory: &isDirectory) && isDirectory ? "/dev/shm" : "/tmp"
        var template = Array("\(base)/\(prefix)-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(created != nil, "mkdtemp failed: errno \(errno)")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit {
        ColumnFiles.removeTree(path)
    }

    /// A path inside the directory.
    package func appending(_ name: String) -> String {
        path + "/" + name
    }
}

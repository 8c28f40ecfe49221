/// A failure of the storage layer: what went wrong, on which file, and what the operator can do.
///
/// Protocols map it to their wire form in one place each; `description` is the one-line text
/// an operator sees in logs or at startup.
package struct StorageError: Error, Sendable, CustomStringConvertible {
    /// Stable kinds; tests and wire mappings switch on these, never on message text.
    package enum Code: String, Sendable {
        case io
        case corrupt
        case unsupportedVersion
        case locked
        /// A configured limit was exceeded (record size, batch size, …).
        case limitExceeded
        /// Writes are refused: an earlier fsync failed, or the log is damaged.
        case notWritable
        /// A batch was built against an older version of its table's schema (`RowBatch.extend`
        /// may adopt the new one, or the writer rebuilds).
        case schemaChanged
        /// The node's role (replica, fenced) refuses writes from clients; only replication
        /// writes there. Protocols answer it as a read-only node (25006, 421, disconnect).
        case readOnly
        /// Synchronous replication: the write is durable on this node, but not enough replicas
        /// confirmed it within `replication.sync.timeout`. Its fate after a failover is unknown
        /// (PostgreSQL's 40003 statement_completion_unknown), so it is not acknowledged.
        case notReplicated
    }

    package var code: Code
    package var path: String
    package var message: String
    /// `errno` of the failed system call, when there was one.
    package var errno: Int32?

    package init(_ code: Code, path: String, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.path = path
        self.message = message
        self.errno = errno
    }

    package var description: String {
        var text = "\(path): \(message)"
        if let errno { text += " (\(StorageError.describe(errno: errno)))" }
        return text
    }

    /// `strerror` text for an errno value.
    package static func describe(errno: Int32) -> String {
        String(cString: strerror(errno))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

import Storage

/// An error from parsing, planning or running a statement: a stable code, a message a user
/// can act on and, where it is known, the 0-based character position in the statement
/// (QUESTDB-COMPAT §3.1). Each protocol maps it to its wire form in one place.
package struct SQLError: Error, Sendable, CustomStringConvertible, Equatable {
    package enum Code: String, Sendable {
        case syntax
        case undefinedTable
        case undefinedColumn
        case undefinedFunction
        /// A setting or other named object that does not exist.
        case undefinedObject
        case duplicateTable
        case typeMismatch
        /// A value cannot be converted or is out of its type's range.
        case invalidValue
        case unsupported
        /// A configured limit: statement size, nesting depth, result memory.
        case limitExceeded
        case timeout
        case cancelled
        /// A write on a read-only node.
        case readOnly
        /// A statement inside a transaction that already failed (until ROLLBACK).
        case transactionAborted
        /// Synchronous replication did not confirm the write in time: durable here, fate unknown.
        case notReplicated
        /// The node is not in a state the statement needs (`pg_promote()` on a primary).
        case wrongState
        /// Storage refused or failed (I/O, damaged table, not writable).
        case storage
    }

    package var code: Code
    package var message: String
    package var position: Int?

    package init(_ code: Code, _ message: String, at position: Int? = nil) {
        self.code = code
        self.message = message
        self.position = position
    }

    package var description: String {
        position.map { "\(message) [position=\($0)]" } ?? message
    }

    static func syntax(_ message: String, at position: Int) -> SQLError {
        SQLError(.syntax, message, at: position)
    }
}

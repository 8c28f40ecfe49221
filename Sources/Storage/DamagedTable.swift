/// A table directory that could not be opened.
package struct DamagedTable: Sendable {
    /// The table's name and id as its directory (`name~id`) tells them.
    package let name: String
    package let tableID: UInt32?
    package let directoryName: String
    package let reason: String

    init(directoryName: String, error: StorageError) {
        self.directoryName = directoryName
        let separator = directoryName.lastIndex(of: "~") ?? directoryName.endIndex
        name = String(directoryName[..<separator])
        tableID = separator < directoryName.endIndex ? UInt32(directoryName[directoryName.index(after: separator)...]) : nil
        reason = "\(error)"
    }
}

/// Table and column name rules exactly as QuestDB checks them (`TableUtils.isValidTableName`,
/// `isValidColumnName`; QUESTDB-COMPAT §1.1), and case-insensitive name keys for lookup.
package enum NameRules {
    /// `cairo.max.file.name.length`: names are directory and file names.
    package static let maxNameBytes = 127

    /// Characters refused in both table and column names.
    private static func isForbiddenInAnyName(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "?", ",", "'", "\"", "\\", "/", ":", ")", "(", "+", "*", "%", "~": true
        case "\u{0000}"..."\u{000F}", "\u{007F}", "\u{FEFF}": true
        default: false
        }
    }

    /// A valid table name: no forbidden characters, `.` only inside and never `..`, ≤ 127 bytes.
    package static func isValidTableName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= maxNameBytes, !name.hasPrefix("."), !name.hasSuffix("."),
              !name.contains("..")
        else { return false }
        return !name.unicodeScalars.contains(where: isForbiddenInAnyName)
    }

    /// A valid column name: the table rules plus no `.` and no `-`.
    package static func isValidColumnName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= maxNameBytes else { return false }
        return !name.unicodeScalars.contains { isForbiddenInAnyName($0) || $0 == "." || $0 == "-" }
    }

    /// The key two names share when they differ only in case.
    package static func lookupKey(_ name: String) -> String {
        name.lowercased()
    }
}

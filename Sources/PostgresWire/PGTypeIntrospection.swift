import NIOCore
import SQL

/// asyncpg's type introspection (`WITH RECURSIVE typeinfo_tree …`): asyncpg sends it for every
/// type it has no built-in codec for (arrays among them) and cannot work without an answer.
/// Sundial's SQL has no recursive CTEs, so the statement is recognised and answered from the
/// type list the catalog uses: each requested type, and for an array its element type first.
enum PGTypeIntrospection {
    static func matches(_ sql: String) -> Bool {
        ASCIICase.contains(sql, "typeinfo_tree") && sql.contains("WITH RECURSIVE")
    }

    private static let columns: [(String, PGType)] = [
        ("oid", PGType(oid: 26, size: 4)), ("ns", PGType(oid: 19, size: 64)), ("name", PGType(oid: 19, size: 64)),
        ("kind", PGType(oid: 18, size: 1)), ("basetype", PGType(oid: 26, size: 4)), ("elemtype", PGType(oid: 26, size: 4)),
        ("elemdelim", PGType(oid: 18, size: 1)), ("range_subtype", PGType(oid: 26, size: 4)),
        ("attrtypoids", PGType(oid: 1028, size: -1)), ("attrnames", PGType(oid: 1009, size: -1)), ("depth", .int4),
        ("basetype_name", .text), ("elemtype_name", .text), ("range_subtype_name", .text),
    ]

    /// The parameter is `$1::oid[]`.
    static let parameterOIDs: [Int32] = [1028]

    static func description(formats: [PGFormat]) -> [PGColumnDescription] {
        columns.enumerated().map { index, column in
            PGColumnDescription(
                name: column.0, type: column.1,
                format: formats.isEmpty ? .text : formats.count == 1 ? formats[0] : index < formats.count ? formats[index] : .text)
        }
    }

    /// The rows for the requested type OIDs, deepest (element types) first; unknown OIDs give none.
    static func write(requested: [Int64], formats: [PGFormat], into out: inout ByteBuffer) -> Int {
        let known = PostgresCatalog.types
        var rows: [(oid: Int64, name: String, element: Int64, depth: Int32)] = []
        for oid in requested {
            guard let type = known.first(where: { $0.oid == oid }) else { continue }
            rows.append((type.oid, type.name, type.element, 0))
            if type.element != 0, let element = known.first(where: { $0.oid == type.element }) {
                rows.append((element.oid, element.name, 0, 1))
            }
        }
        rows.sort { $0.depth > $1.depth }
        let described = description(formats: formats)
        for row in rows {
            var values: [(PGFormat) -> [UInt8]?] = []
            let elementName = known.first { $0.oid == row.element }?.name
            values.append(oidValue(row.oid))
            values.append(textValue("pg_catalog"))
            values.append(textValue(row.name))
            values.append(textValue("b"))
            values.append { _ in nil }
            values.append(row.element == 0 ? { _ in nil } : oidValue(row.element))
            values.append(textValue(","))
            values.append { _ in nil }
            values.append { _ in nil }
            values.append { _ in nil }
            values.append { format in format == .binary ? withUnsafeBytes(of: row.depth.bigEndian) { Array($0) } : Array(String(row.depth).utf8) }
            values.append { _ in nil }
            values.append(elementName.map { textValue($0) } ?? { _ in nil })
            values.append { _ in nil }
            out.writeInteger(UInt8(ascii: "D"))
            let lengthIndex = out.writerIndex
            out.writeInteger(Int32(0))
            out.writeInteger(Int16(values.count))
            for (index, value) in values.enumerated() {
                if let bytes = value(described[index].format) {
                    out.writeInteger(Int32(bytes.count))
                    out.writeBytes(bytes)
                } else {
                    out.writeInteger(Int32(-1))
                }
            }
            out.setInteger(Int32(out.writerIndex - lengthIndex), at: lengthIndex)
        }
        return rows.count
    }

    private static func oidValue(_ oid: Int64) -> (PGFormat) -> [UInt8]? {
        { format in format == .binary ? withUnsafeBytes(of: UInt32(truncatingIfNeeded: oid).bigEndian) { Array($0) } : Array(String(oid).utf8) }
    }

    /// Text, name and "char" values: the same bytes in both formats.
    private static func textValue(_ text: String) -> (PGFormat) -> [UInt8]? {
        { _ in Array(text.utf8) }
    }

    /// The OIDs of a binary `oid[]` parameter (or its text form `{16,1022}`).
    static func requestedOIDs(_ value: SQLValue) -> [Int64] {
        guard case .text(let text) = value else { return [] }
        return text.split(whereSeparator: { "[]{}, ".contains($0) }).compactMap { Int64($0) }
    }
}

import NIOCore
import SQL

/// DataRows of a run of a result's rows, encoded on a SQL worker rather than the connection's
/// event loop: a result of any size never holds the loop, and a small one (a point query) is
/// encoded by the worker that ran it, in the same hand-off.
struct PGEncodedRows: Sendable {
    var bytes: ByteBuffer
    /// The row after the last one encoded.
    var end: Int

    /// Rows from `rows.lowerBound` towards `rows.upperBound`, whole passes of
    /// `PGRowWriter.rowsPerPass` rows until about `limit` bytes; RowDescription first when
    /// `describe`.
    static func encode(_ result: QueryResult, formats: [PGFormat], rows: Range<Int>, limit: Int, describe: Bool) -> PGEncodedRows {
        let writer = PGRowWriter(columns: result.columns, formats: formats)
        var bytes = ByteBuffer()
        if describe { PGBackendMessage.rowDescription(writer.description(of: result.columns)).write(into: &bytes) }
        var row = rows.lowerBound
        while row < rows.upperBound, bytes.readableBytes < limit {
            let next = min(rows.upperBound, row + PGRowWriter.rowsPerPass)
            writer.write(result, rows: row..<next, into: &bytes)
            row = next
        }
        return PGEncodedRows(bytes: bytes, end: row)
    }
}

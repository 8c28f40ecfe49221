import SQL

/// SQL errors → PostgreSQL ErrorResponse fields: the one place a SQL error gets its SQLSTATE
/// (real codes where QuestDB sends 00000; RELIABILITY §3.2).
package enum PGErrorMapping {
    package static func fields(_ error: SQLError) -> PGErrorFields {
        var fields = PGErrorFields(sqlState: sqlState(error), message: error.message)
        // SQL errors count characters from 0; PostgreSQL's `P` field from 1.
        fields.position = error.position.map { $0 + 1 }
        return fields
    }

    package static func sqlState(_ error: SQLError) -> String {
        switch error.code {
        case .syntax: "42601"
        case .undefinedTable: "42P01"
        case .undefinedColumn: "42703"
        case .undefinedFunction: "42883"
        case .undefinedObject: error.message.hasPrefix("cursor") ? "34000" : "42704"
        case .duplicateTable: error.message.hasPrefix("cursor") ? "42P03" : "42P07"
        case .typeMismatch: "42804"
        case .invalidValue: error.message.hasPrefix("inconvertible value") ? "22P02" : "22023"
        case .unsupported: "0A000"
        case .limitExceeded: error.message.contains("memory") ? "53200" : "54000"
        case .timeout, .cancelled: "57014"
        case .readOnly: "25006"
        case .transactionAborted: "25P02"
        // statement_completion_unknown: committed here, not confirmed by the replicas.
        case .notReplicated: "40003"
        case .wrongState: "55000"
        case .storage: "58030"
        }
    }

    package static func fields(_ error: PGProtocolError) -> PGErrorFields {
        PGErrorFields(severity: error.fatal ? "FATAL" : "ERROR", sqlState: error.sqlState, message: error.message)
    }
}

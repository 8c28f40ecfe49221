import SQL

/// Catalog queries about features Sundial does not have (row security policies, extended
/// statistics, publications, triggers, rules, partitioned tables): psql's `\d table` asks each
/// of them in turn. Their answer is always "none", so such a statement is answered with no
/// rows before it is parsed; their SQL (`array(select …)`, `= any (…)`) need not be supported.
enum PGCatalogShortcuts {
    private static let absentRelations = [
        "pg_catalog.pg_policy", "pg_catalog.pg_statistic_ext", "pg_catalog.pg_publication", "pg_catalog.pg_trigger",
        "pg_catalog.pg_rewrite", "pg_catalog.pg_partitioned_table", "pg_catalog.pg_foreign_table", "pg_catalog.pg_sequence",
        "pg_catalog.pg_event_trigger", "pg_catalog.pg_subscription", "pg_catalog.pg_inherits i",
    ]

    /// Whether `sql` is a SELECT that reads one of the relations that are always empty here.
    static func isAlwaysEmpty(_ sql: String) -> Bool {
        // Asked of every Parse: one byte scan rules out nearly every statement.
        guard ASCIICase.contains(sql, "pg_catalog.") else { return false }
        let lower = sql.lowercased()
        guard lower.drop(while: { $0 == " " || $0 == "\n" || $0 == "(" }).hasPrefix("select") else { return false }
        return absentRelations.contains { lower.contains($0) }
    }
}

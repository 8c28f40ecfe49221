import SQL

/// Catalog queries about features Sundial does not have (row security policies, extended
/// statistics, publications, triggers, rules, partitioned tables, constraints, indexes):
/// psql's `\d table` and SQLAlchemy's reflection ask them in SQL the engine does not support
/// (`array(select …)`, `= any (…)`, `unnest`). Their answer is always "none": when such a
/// statement fails to parse, describe or run, it is answered with no rows instead of the
/// error. Statements the engine can run (SQLAlchemy's column query, which names `pg_sequence`
/// in a subquery) run normally.
enum PGCatalogShortcuts {
    private static let absentRelations = [
        "pg_catalog.pg_policy", "pg_catalog.pg_statistic_ext", "pg_catalog.pg_publication", "pg_catalog.pg_trigger",
        "pg_catalog.pg_rewrite", "pg_catalog.pg_partitioned_table", "pg_catalog.pg_foreign_table", "pg_catalog.pg_sequence",
        "pg_catalog.pg_event_trigger", "pg_catalog.pg_subscription", "pg_catalog.pg_inherits",
        // No constraints, indexes or operator classes either: SQLAlchemy's reflection asks
        // about them with unnest(), generate_subscripts() and ordered array_agg().
        "pg_catalog.pg_constraint", "pg_catalog.pg_index", "pg_catalog.pg_opclass",
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

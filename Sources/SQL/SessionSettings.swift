/// The settings `SHOW` reports (QUESTDB-COMPAT §5.4): fixed values drivers ask for on
/// connect, plus the node's read-only state. A protocol that keeps per-connection `SET`
/// values answers those itself and falls back to these.
package enum SessionSettings {
    /// The value of `name` (lower-cased), or nil when there is no such setting.
    package static func value(of name: String, readOnly: Bool) -> String? {
        switch name {
        case "transaction_isolation", "default_transaction_isolation": "read committed"
        case "default_transaction_read_only", "transaction_read_only", "in_hot_standby": readOnly ? "on" : "off"
        case "max_identifier_length": "63"
        case "standard_conforming_strings": "on"
        case "search_path": "\"$user\", public"
        case "datestyle": "ISO, YMD"
        case "timezone": "UTC"
        case "server_version": "12.3 (questdb)"
        case "server_version_num": "123000"
        case "server_encoding", "client_encoding": "UTF8"
        case "integer_datetimes": "on"
        case "intervalstyle": "postgres"
        case "application_name": "QuestDB"
        case "is_superuser": "on"
        case "lc_collate", "lc_ctype": "en_US.UTF-8"
        case "statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout": "0"
        case "extra_float_digits": "1"
        case "bytea_output": "hex"
        default: nil
        }
    }

    /// The column name PostgreSQL gives `SHOW name`'s single column.
    package static func columnName(of name: String) -> String {
        switch name {
        case "timezone": "TimeZone"
        case "datestyle": "DateStyle"
        case "intervalstyle": "IntervalStyle"
        default: name
        }
    }
}

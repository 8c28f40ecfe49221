/// The version `sundial version` prints, `/settings` reports as `release.version` and
/// `SELECT build` names (here, below every module that reports it).
package enum SundialVersion {
    package static let current = "0.1.0"
    /// The QuestDB release whose interfaces this one follows (QUESTDB-COMPAT §0): clients that
    /// gate features on a version (`select build`) read this one.
    package static let questDBCompatible = "9.4.4"
}

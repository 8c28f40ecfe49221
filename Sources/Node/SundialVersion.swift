/// The version `sundial version` prints and `/settings` reports as `release.version`.
package enum SundialVersion {
    package static let current = "0.1.0"
}

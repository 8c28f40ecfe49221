import Synchronization

/// QuestDB's table TTL: partitions whose whole period is older than the TTL, measured back
/// from the reference time min(wall clock, newest row), are dropped (decision 0020).
package struct TableTTL: Sendable, Equatable {
    package enum Unit: UInt8, Sendable, CaseIterable, CustomStringConvertible {
        case hour = 1, day, week, month, year

        /// QuestDB's name in `tables().ttlUnit`.
        package var description: String {
            switch self {
            case .hour: "HOUR"
            case .day: "DAY"
            case .week: "WEEK"
            case .month: "MONTH"
            case .year: "YEAR"
            }
        }
    }

    package var value: Int32
    package var unit: Unit

    package init(value: Int32, unit: Unit) {
        self.value = value
        self.unit = unit
    }

    /// `reference` moved back by the TTL (µs): hours, days and weeks exactly, months and years
    /// on the calendar (the day clamped to the target month's length).
    package func cutoff(from reference: Int64) -> Int64 {
        let value = Int64(self.value)
        switch unit {
        case .hour: return reference - value * PartitionTime.microsPerHour
        case .day: return reference - value * PartitionTime.microsPerDay
        case .week: return reference - value * 7 * PartitionTime.microsPerDay
        case .month, .year:
            let months = unit == .month ? Int(value) : Int(value) * 12
            let day = PartitionTime.floor(reference, by: .day) / PartitionTime.microsPerDay
            let timeOfDay = reference - day * PartitionTime.microsPerDay
            let date = PartitionTime.civil(fromDays: day)
            let total = date.year * 12 + (date.month - 1) - months
            let (year, month) = (total / 12, total % 12 + 1)
            let length = PartitionTime.daysInMonth(year: year, month: month)
            return PartitionTime.days(fromYear: year, month: month, day: min(date.day, length)) * PartitionTime.microsPerDay + timeOfDay
        }
    }

    /// Whether the TTL is a whole number of `partitionBy` periods (QuestDB's rule: data goes a
    /// whole partition at a time).
    package func fits(_ partitionBy: PartitionBy) -> Bool {
        let hours: Int64? = switch unit {
        case .hour: Int64(value)
        case .day: Int64(value) * 24
        case .week: Int64(value) * 24 * 7
        case .month, .year: nil
        }
        switch partitionBy {
        case .none: return false
        case .hour: return true
        case .day: return hours.map { $0 % 24 == 0 } ?? true
        case .week: return hours.map { $0 % (24 * 7) == 0 } ?? false
        case .month: return unit == .month || unit == .year
        case .year: return unit == .year || (unit == .month && value % 12 == 0)
        }
    }
}

extension StorageEngine {
    /// Drops the partitions TTL has expired, in every table with a TTL, as WAL transactions
    /// (replicas follow the records; only a node that takes writes decides). Returns how many
    /// partitions went. Runs after applies that touched a table with a TTL. A table whose drop
    /// fails (suspended, say) is counted in `sundial_ttl_failures_total`, its reason kept in
    /// `lastTTLFailure`, and retried by the next pass.
    @discardableResult
    package func enforceTTL(nowMicros: Int64) async -> Int {
        guard role.acceptsWrites else { return 0 }
        var dropped = 0
        for schema in tableSchemas {
            guard let ttl = schema.ttl, let snapshot = snapshot(ofTable: schema.name), let newest = Self.newestTimestamp(snapshot)
            else { continue }
            let cutoff = ttl.cutoff(from: min(nowMicros, newest))
            let partitionBy = schema.partitionBy
            do {
                dropped += try await dropPartitions(schema.name) { PartitionTime.next(after: $0, by: partitionBy) <= cutoff }
            } catch {
                StorageMetrics.ttlFailed()
                lastTTLFailure.withLock { $0 = "\(schema.name): \(error.message)" }
            }
        }
        return dropped
    }

    /// The newest designated timestamp of a table: the last rows of its newest partition's parts.
    static func newestTimestamp(_ snapshot: TableSnapshot) -> Int64? {
        guard let last = snapshot.partitions.map(\.timestamp).max() else { return nil }
        return snapshot.partitions.filter { $0.timestamp == last }.compactMap { snapshot.timestampBounds(of: $0)?.last }.max()
    }
}

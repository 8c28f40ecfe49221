// Proves partition boundaries and QuestDB partition directory names for every unit, including ISO weeks and pre-1970 times.
import Storage
import Testing

@Suite struct PartitionTimeTests {
    /// 2024-01-15T09:30:00.123456Z in microseconds.
    static let sample: Int64 = 1_705_311_000_123_456

    @Test(arguments: [
        (PartitionBy.day, "2024-01-15", Int64(1_705_276_800_000_000), Int64(1_705_363_200_000_000)),
        (.hour, "2024-01-15T09", 1_705_309_200_000_000, 1_705_312_800_000_000),
        (.month, "2024-01", 1_704_067_200_000_000, 1_706_745_600_000_000),
        (.year, "2024", 1_704_067_200_000_000, 1_735_689_600_000_000),
        (.week, "2024-W03", 1_705_276_800_000_000, 1_705_881_600_000_000),
    ])
    func boundariesAndNames(unit: PartitionBy, name: String, start: Int64, next: Int64) {
        let floor = PartitionTime.floor(Self.sample, by: unit)
        #expect(floor == start)
        #expect(PartitionTime.name(of: floor, by: unit) == name)
        #expect(PartitionTime.next(after: floor, by: unit) == next)
    }

    @Test(arguments: [
        // (timestamp µs, ISO week name): week 1 can start in December, week 53 can end in January.
        (Int64(1_704_067_200_000_000), "2024-W01"),  // 2024-01-01, a Monday
        (Int64(1_703_980_800_000_000), "2023-W52"),  // 2023-12-31, a Sunday
        (Int64(1_609_459_200_000_000), "2020-W53"),  // 2021-01-01, a Friday
        (Int64(1_735_603_200_000_000), "2025-W01"),  // 2024-12-31, a Tuesday
    ])
    func isoWeeks(timestamp: Int64, name: String) {
        #expect(PartitionTime.name(of: PartitionTime.floor(timestamp, by: .week), by: .week) == name)
    }

    @Test func beforeTheEpoch() {
        let timestamp: Int64 = -1  // 1969-12-31T23:59:59.999999Z
        #expect(PartitionTime.name(of: PartitionTime.floor(timestamp, by: .day), by: .day) == "1969-12-31")
        #expect(PartitionTime.name(of: PartitionTime.floor(timestamp, by: .hour), by: .hour) == "1969-12-31T23")
        #expect(PartitionTime.name(of: PartitionTime.floor(timestamp, by: .year), by: .year) == "1969")
    }

    @Test func noneIsOnePartition() {
        #expect(PartitionTime.name(of: PartitionTime.floor(Self.sample, by: .none), by: .none) == "default")
    }

    @Test func monthsAndYearsRollOverCorrectly() {
        let december = PartitionTime.floor(1_702_000_000_000_000, by: .month)  // 2023-12
        #expect(PartitionTime.name(of: december, by: .month) == "2023-12")
        #expect(PartitionTime.name(of: PartitionTime.next(after: december, by: .month), by: .month) == "2024-01")
        let leap = PartitionTime.floor(1_709_164_800_000_000, by: .day)  // 2024-02-29
        #expect(PartitionTime.name(of: leap, by: .day) == "2024-02-29")
    }
}

import Storage
import TestSupport

/// TSBS `cpu-only`-like rows (PERFORMANCE §2.1): 10 tags as symbols, 10 LONG fields on a
/// clamped random walk, a designated timestamp every 10 s per host. Our own generator.
struct TSBSRows {
    static let tagNames = [
        "hostname", "region", "datacenter", "rack", "os", "arch", "team", "service", "service_version",
        "service_environment",
    ]
    static let fieldNames = [
        "usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq", "usage_softirq",
        "usage_steal", "usage_guest", "usage_guest_nice",
    ]
    static let regions = ["us-east-1", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1"]

    static func schema(name: String) -> TableSchema {
        var columns: [ColumnSchema] = []
        var id: UInt32 = 1
        for tag in tagNames {
            columns.append(ColumnSchema(id: id, name: tag, type: .symbol))
            id += 1
        }
        for field in fieldNames {
            columns.append(ColumnSchema(id: id, name: field, type: .long))
            id += 1
        }
        columns.append(ColumnSchema(id: id, name: "timestamp", type: .timestamp))
        return TableSchema(tableID: 0, name: name, columns: columns, designatedTimestamp: id, partitionBy: .day)
    }

    let hosts: Int
    private var tags: [[[UInt8]]]
    private var fields: [[Int64]]
    private var random = SplitMix64(seed: 123)
    /// Rows emitted so far.
    private(set) var emitted = 0
    let startMicros: Int64 = 1_451_606_400_000_000  // 2016-01-01

    init(hosts: Int) {
        self.hosts = hosts
        var random = SplitMix64(seed: 7)
        tags = (0..<hosts).map { host in
            let region = TSBSRows.regions[Int(random.next() % 9)]
            let values = [
                "host_\(host)", region, "\(region)\(["a", "b", "c"][Int(random.next() % 3)])", "\(random.next() % 100)",
                ["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"][Int(random.next() % 3)], ["x64", "x86"][Int(random.next() % 2)],
                ["SF", "NYC", "LON", "CHI"][Int(random.next() % 4)], "\(random.next() % 20)", "\(random.next() % 2)",
                ["production", "staging", "test"][Int(random.next() % 3)],
            ]
            return values.map { Array($0.utf8) }
        }
        fields = (0..<hosts).map { _ in (0..<10).map { _ in Int64(random.next() % 100) } }
    }

    /// Fills `batch` with the next `count` rows; `lateFraction` of them get a timestamp up to
    /// an hour in the past (out-of-order rows).
    mutating func fill(_ batch: RowBatch, count: Int, lateFraction: Double = 0) throws {
        batch.reset()
        for _ in 0..<count {
            let host = emitted % hosts
            let tick = Int64(emitted / hosts)
            var timestamp = startMicros + tick * 10_000_000
            if lateFraction > 0, Double(random.next() % 1_000) / 1_000 < lateFraction {
                timestamp -= Int64(random.next() % 3_600) * 1_000_000
            }
            batch.beginRow()
            for (column, value) in tags[host].enumerated() { value.withUnsafeBytes { batch.setBytes(column, $0) } }
            for field in 0..<10 {
                let step = Int64(random.next() % 3) - 1
                fields[host][field] = min(100, max(0, fields[host][field] + step))
                batch.setInteger(10 + field, fields[host][field])
            }
            batch.setInteger(20, timestamp)
            try batch.endRow()
            emitted += 1
        }
    }
}

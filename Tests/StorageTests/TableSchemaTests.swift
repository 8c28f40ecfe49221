// Proves QuestDB's name rules, schema validation, and that _meta round-trips and refuses any damage.
import Storage
import Testing

@Suite struct TableSchemaTests {
    static let schema = TableSchema(
        tableID: 7, name: "cpu usage.2024",
        columns: [
            ColumnSchema(id: 1, name: "host", type: .symbol, indexed: true, symbolCapacity: 1024),
            ColumnSchema(id: 2, name: "usage_user", type: .double),
            ColumnSchema(id: 3, name: "geo", type: .geohash(bits: 25)),
            ColumnSchema(id: 5, name: "tags", type: .doubleArray(dimensions: 2)),
            ColumnSchema(id: 6, name: "ts", type: .timestamp),
        ],
        designatedTimestamp: 6, partitionBy: .day, dedupKeys: [6, 1], version: 12)

    @Test(arguments: ["cpu", "cpu usage", "a.b", "Ünïcode", "x-y", String(repeating: "a", count: 127)])
    func validTableNames(name: String) {
        #expect(NameRules.isValidTableName(name))
    }

    @Test(arguments: [
        "", ".a", "a.", "a..b", "a/b", "a\\b", "a?b", "a,b", "a'b", "a\"b", "a:b", "a)b", "a(b", "a+b", "a*b",
        "a%b", "a~b", "a\u{0}b", "a\tb", "a\nb", "a\u{7F}b", "a\u{FEFF}b", String(repeating: "a", count: 128),
        String(repeating: "é", count: 64),
    ])
    func invalidTableNames(name: String) {
        #expect(!NameRules.isValidTableName(name))
    }

    @Test(arguments: ["a.b", "a-b", "a/b", "", "x\u{1}"])
    func invalidColumnNames(name: String) {
        #expect(!NameRules.isValidColumnName(name))
    }

    @Test func lookupIgnoresCase() {
        #expect(Self.schema.column(named: "HOST")?.id == 1)
        #expect(Self.schema.column(named: "Usage_User")?.type == .double)
        #expect(Self.schema.column(named: "nope") == nil)
    }

    @Test func validationRules() throws {
        try Self.schema.validate()
        var duplicate = Self.schema
        duplicate.columns.append(ColumnSchema(id: 9, name: "HOST", type: .long))
        duplicate.nextColumnID = 10
        #expect(throws: SchemaError("duplicate column [name=HOST]")) { try duplicate.validate() }
        var reusedID = Self.schema
        reusedID.columns.append(ColumnSchema(id: 2, name: "other", type: .long))
        #expect(throws: SchemaError.self) { try reusedID.validate() }
        var partitionedWithoutTimestamp = Self.schema
        partitionedWithoutTimestamp.designatedTimestamp = nil
        partitionedWithoutTimestamp.dedupKeys = []
        #expect(throws: SchemaError("partitioning is possible only on tables with designated timestamps")) {
            try partitionedWithoutTimestamp.validate()
        }
        var badTimestamp = Self.schema
        badTimestamp.designatedTimestamp = 2
        badTimestamp.dedupKeys = []
        #expect(throws: SchemaError.self) { try badTimestamp.validate() }
        var dedupWithoutTimestamp = Self.schema
        dedupWithoutTimestamp.dedupKeys = [1]
        #expect(throws: SchemaError("deduplicate key list must include dedicated timestamp column")) {
            try dedupWithoutTimestamp.validate()
        }
    }

    @Test func metaRoundTrips() throws {
        let bytes = TableMetaCodec.encode(Self.schema)
        #expect(try TableMetaCodec.decode(bytes, path: "_meta") == Self.schema)
    }

    @Test func everyBitFlipOfMetaIsRefused() {
        let bytes = TableMetaCodec.encode(Self.schema)
        for index in bytes.indices {
            for bit in 0..<8 {
                var damaged = bytes
                damaged[index] ^= 1 << bit
                #expect(throws: StorageError.self, "byte \(index) bit \(bit)") {
                    try TableMetaCodec.decode(damaged, path: "_meta")
                }
            }
        }
    }

    @Test func everyTruncationOfMetaIsRefused() {
        let bytes = TableMetaCodec.encode(Self.schema)
        for length in 0..<bytes.count {
            #expect(throws: StorageError.self, "length \(length)") {
                try TableMetaCodec.decode(Array(bytes[..<length]), path: "_meta")
            }
        }
    }
}

// Simulated power loss while a table's structure changes: ADD COLUMN, DROP COLUMN and re-adding a dropped name between batches (some late, so partitions split and squash around the changes). After a cut at any point the table has exactly the columns and rows of a committed prefix of the steps, and every acknowledged step.
import Storage
import Testing
import TestSupport

@Suite struct StorageEngineSchemaPowerLossTests {
    typealias Cuts = StorageEnginePowerLossTests

    enum Step {
        case rows([ModelRow])
        /// `ADD COLUMN extra LONG`: rows written after it carry `value × 10`.
        case addExtra
        /// `DROP COLUMN note`: every note is gone.
        case dropNote
        /// `ADD COLUMN note VARCHAR` again: a new column under the old name, NULL for earlier rows.
        case addNote
    }

    /// The 24 batches of the other power-loss test with the three changes between them.
    static func steps() -> [Step] {
        let batches = Cuts.batches().map(Step.rows)
        return Array(batches[0..<6]) + [.addExtra] + Array(batches[6..<12]) + [.dropNote] + Array(batches[12..<18]) + [.addNote]
            + Array(batches[18...])
    }

    /// What the table holds after `steps`: its column names in order, and its rows as text
    /// (SnapshotText's form), in storage order (by timestamp, earlier commits first on ties).
    static func model(_ steps: ArraySlice<Step>) -> (columns: [String], rows: [[String: String?]]) {
        var columns = ModelRow.columns.map(\.name)
        var rows: [(ts: Int64, values: [String: String?])] = []
        for step in steps {
            switch step {
            case .rows(let batch):
                for row in batch {
                    var values: [String: String?] = ["sym": row.sym, "value": "\(row.value)", "ts": "\(row.ts)"]
                    if columns.contains("note") { values["note"] = row.note }
                    if columns.contains("extra") { values["extra"] = "\(row.value * 10)" }
                    rows.append((row.ts, values))
                }
            case .addExtra:
                columns.append("extra")
                for index in rows.indices { rows[index].values["extra"] = .some(nil) }
            case .dropNote:
                columns.removeAll { $0 == "note" }
                for index in rows.indices { rows[index].values["note"] = nil }
            case .addNote:
                columns.append("note")
                for index in rows.indices { rows[index].values["note"] = .some(nil) }
            }
        }
        let ordered = rows.enumerated().sorted { $0.element.ts != $1.element.ts ? $0.element.ts < $1.element.ts : $0.offset < $1.offset }
        return (columns, ordered.map(\.element.values))
    }

    /// Runs the steps in order until one fails; returns how many were acknowledged.
    static func run(_ engine: StorageEngine, _ steps: [Step]) async -> Int {
        let request = TableSchema(tableID: 0, name: "evolving", columns: ModelRow.columns, designatedTimestamp: 4, partitionBy: .hour)
        guard var schema = try? await engine.createTable(request) else { return 0 }
        var acknowledged = 0
        for step in steps {
            do {
                switch step {
                case .rows(let rows):
                    let txn = try await engine.commit(try batch(rows, schema: schema))
                    await engine.waitUntilApplied(txn)
                case .addExtra:
                    schema = try await engine.alterTable("evolving") { (schema) throws(SchemaError) in
                        _ = try schema.addColumn(name: "extra", type: .long)
                    }
                case .dropNote:
                    schema = try await engine.alterTable("evolving") { (schema) throws(SchemaError) in try schema.dropColumn(named: "note") }
                case .addNote:
                    schema = try await engine.alterTable("evolving") { (schema) throws(SchemaError) in
                        _ = try schema.addColumn(name: "note", type: .varchar)
                    }
                }
            } catch {
                break
            }
            acknowledged += 1
        }
        return acknowledged
    }

    /// A batch of `rows` for the table as `schema` has it now (columns found by name).
    static func batch(_ rows: [ModelRow], schema: TableSchema) throws -> RowBatch {
        let position = { (name: String) in schema.columns.firstIndex { $0.name == name } }
        let batch = RowBatch(schema: schema)
        for row in rows {
            batch.beginRow()
            if let sym = row.sym { Array(sym.utf8).withUnsafeBytes { batch.setBytes(position("sym")!, $0) } }
            batch.setInteger(position("value")!, row.value)
            if let note = row.note, let column = position("note") { Array(note.utf8).withUnsafeBytes { batch.setBytes(column, $0) } }
            if let column = position("extra") { batch.setInteger(column, row.value * 10) }
            batch.setInteger(position("ts")!, row.ts)
            try batch.endRow()
        }
        return batch
    }

    static func read(_ engine: StorageEngine) throws -> (columns: [String], rows: [[String: String?]]) {
        guard let snapshot = engine.snapshot(ofTable: "evolving") else { return (ModelRow.columns.map(\.name), []) }
        return (snapshot.schema.columns.map(\.name), try SnapshotText.rows(snapshot))
    }

    @Test func theModelFollowsTheChanges() {
        let steps = Self.steps()
        let all = Self.model(steps[...])
        #expect(all.columns == ["sym", "value", "ts", "extra", "note"])
        #expect(all.rows.allSatisfy { $0.keys.sorted() == ["extra", "note", "sym", "ts", "value"] })
        #expect(Self.model(steps[..<7]).columns == ["sym", "value", "note", "ts", "extra"])
    }

    @Test func everyCutLeavesExactlyACommittedPrefixOfTheChanges() async throws {
        let steps = Self.steps()
        try await Cuts.sweepCuts(seed: 23, steps: steps.count, run: { engine in await Self.run(engine, steps) }, uncut: { engine in
            // Without a cut the table is the whole model, with split parts among its partitions.
            let whole = try Self.read(engine)
            let expected = Self.model(steps[...])
            #expect(whole.columns == expected.columns)
            #expect(whole.rows == expected.rows)
            #expect(engine.snapshot(ofTable: "evolving")?.partitions.contains { $0.state.isSplit } == true)
        }) { engine, acknowledged, label in
            let table = try Self.read(engine)
            let prefix = (acknowledged...steps.count).first { count in
                let model = Self.model(steps[..<count])
                return model.columns == table.columns && model.rows == table.rows
            }
            #expect(prefix != nil, "\(label): \(acknowledged) steps acknowledged, table has columns \(table.columns) and \(table.rows.count) rows matching no committed prefix")
        }
    }
}

import ArgumentParser
import Storage

#if canImport(Glibc)
import Glibc
#endif

/// `sundial-storage-bench`: storage benchmarks (`make bench`) and the crash writer the
/// kill -9 test drives. Not part of a node; a tool over the Storage module.
@main
struct StorageBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sundial-storage-bench",
        abstract: "Storage benchmarks and crash-test tools for Sundial.",
        subcommands: [RunBenchmarks.self, LineParseBenchmark.self, CrashWriter.self, CrashVerifier.self, ILPRequestLoad.self])
}

struct RunBenchmarks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the storage benchmarks.")

    @Option(help: "Scratch directory (removed and recreated).")
    var directory = "/tmp/sundial-storage-bench"

    @Option(help: "Rows for the apply and recovery benchmarks.")
    var rows = 1_000_000

    @Option(help: "Run only these benchmarks (comma-separated: raw, wal, build, apply, o3, recovery).")
    var only: String?

    func run() async throws {
        let selected = only.map { Set($0.split(separator: ",").map(String.init)) }
        let bench = StorageBenchmarks(root: directory, rows: rows, selected: selected)
        try await bench.runAll()
    }
}

/// Commits numbered rows until killed, recording each acknowledged batch in `--ack-file`.
struct CrashWriter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "crash-writer", abstract: "Write numbered rows until killed.")

    @Option var dataDir: String
    @Option var ackFile: String
    @Option(help: "sync, async or nosync") var commitMode = "sync"

    func run() async throws {
        guard let mode = WALConfiguration.CommitMode(rawValue: commitMode) else {
            throw ValidationError("--commit-mode must be sync, async or nosync")
        }
        try await CrashTest(dataDir: dataDir, ackFile: ackFile, commitMode: mode).write()
    }
}

/// Reopens a crash writer's directory and checks every acknowledged row is present exactly once.
struct CrashVerifier: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "crash-verify", abstract: "Verify a crash writer's data.")

    @Option var dataDir: String
    @Option var ackFile: String

    func run() async throws {
        let result = try CrashTest(dataDir: dataDir, ackFile: ackFile).verify()
        print(result.report)
        if !result.passed { throw ExitCode(1) }
    }
}

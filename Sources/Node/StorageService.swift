import Logging
import ServiceLifecycle
import Storage

/// Keeps the storage engine for the node's life and checkpoints it at graceful shutdown,
/// after the listeners (started later, stopped earlier) have drained.
struct StorageService: Service {
    let engine: StorageEngine
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        try engine.checkpoint()
        try engine.wal.cutReusedTail()
        logger.info("storage checkpointed", metadata: ["applied-txn": "\(engine.appliedTxn)"])
    }
}

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
        do {
            try engine.wal.cutReusedTail()
        } catch {
            // Harmless: the next start steps over the former records (or cuts them as a torn tail).
            logger.warning("could not cut the reused WAL segment at its last record", metadata: ["error": "\(error)"])
        }
        logger.info("storage checkpointed", metadata: ["applied-txn": "\(engine.appliedTxn)"])
    }
}

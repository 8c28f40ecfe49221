import NIOCore

/// Runs a task's nonisolated code on one event loop: a connection task preferring its
/// channel's loop reads, decodes and writes where the bytes are, and a statement handed to
/// the SQL workers costs two thread switches (loop → worker → loop) instead of four through
/// the global concurrent pool. Only protocol work runs here; statements and row encoding of
/// any size go to the workers, so the loop never blocks.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

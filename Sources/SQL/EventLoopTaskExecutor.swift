import NIOCore

/// Runs a task's nonisolated code on one event loop: a connection task preferring its
/// channel's loop reads, decodes and writes where the bytes are, and a statement handed to
/// the SQL workers costs two thread switches (loop → worker → loop) instead of four through
/// the global concurrent pool. Only protocol work may run here: statements and row encoding
/// of any size go to the SQL workers, writes to the global pool (`SQLEngine`), and a
/// connection doing bulk work of its own (ILP bodies, CSV import) prefers the global pool for
/// it. It lives with the SQL engine because both wire protocols hand statements to it.
package final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    package init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The threads that run queries off the network event loops (DESIGN §6).
///
/// A point query costs tens of microseconds, about what it costs to wake a parked thread
/// for it (a futex call by the event loop, a context switch on the worker, decision 0037).
/// So a worker that finishes a job and finds the queue empty keeps looking for up to
/// `spin` before it parks — yielding the core meanwhile, since on a small machine the
/// event loop that will submit the next job may need it. At most one worker looks at a
/// time; a job that no looking worker covers wakes a parked one at once, so the pool stays
/// work-conserving: a job never waits behind a long query while a worker is parked. Looking
/// stops when it keeps finding nothing (`LookPolicy`).
final class QueryWorkers: @unchecked Sendable {
    typealias Job = @Sendable () -> Void

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Guarded by `mutex`.
    private var jobs: [Job] = []
    private var head = 0
    private var parked = 0
    private var looking = 0
    private var active = true
    private var lookPolicy = LookPolicy()
    /// Jobs queued and not taken: read without the lock by the looking worker.
    private let queued = Atomic<Int>(0)
    /// Jobs accepted since the start.
    private let accepted = Atomic<Int>(0)
    private let spinNanos: UInt64

    init(threads count: Int, spin: Duration = .microseconds(50)) {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        let (seconds, attoseconds) = spin.components
        spinNanos = UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds / 1_000_000_000))
        for _ in 0..<max(1, count) {
            var thread = pthread_t()
            let context = Unmanaged.passRetained(WorkerStart(pool: self)).toOpaque()
            let created = pthread_create(&thread, nil, { raw in
                let start = Unmanaged<WorkerStart>.fromOpaque(raw!).takeRetainedValue()
                start.pool.work()
                return nil
            }, context)
            precondition(created == 0, "cannot start a query worker thread (error \(created))")
            // Each thread holds the pool until it exits; nothing joins it.
            pthread_detach(thread)
        }
    }

    private final class WorkerStart {
        let pool: QueryWorkers
        init(pool: QueryWorkers) { self.pool = pool }
    }

    /// Runs `body` on a worker; nil when the pool has shut down (the job does not run).
    func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T? {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<T?, Never>) in
            let accepted = submit { continuation.resume(returning: body()) }
            if !accepted { continuation.resume(returning: nil) }
        }
    }

    /// Jobs queued and not taken yet (for tests).
    var queuedJobs: Int { queued.load(ordering: .acquiring) }

    /// Jobs accepted since the pool started.
    var acceptedJobs: Int { accepted.load(ordering: .relaxed) }

    /// Queues a job; false when the pool has shut down.
    func submit(_ job: @escaping Job) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard active else { return false }
        jobs.append(job)
        accepted.add(1, ordering: .relaxed)
        let waiting = queued.add(1, ordering: .releasing).newValue
        // A looking worker takes the first waiting job; any beyond that wakes a parked one.
        if parked > 0, waiting > looking { pthread_cond_signal(condition) }
        return true
    }

    /// Stops taking jobs; the queued ones still run, then the threads exit. Does not wait
    /// for them (it may be called from a job, say when the last reference goes there).
    func shutdown() {
        pthread_mutex_lock(mutex)
        active = false
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    private func work() {
        pthread_mutex_lock(mutex)
        var mayLook = true
        while true {
            if let job = take() {
                pthread_mutex_unlock(mutex)
                job()
                pthread_mutex_lock(mutex)
                mayLook = true
                continue
            }
            if !active { break }
            if mayLook, looking == 0, spinNanos > 0, lookPolicy.shouldLook() {
                looking = 1
                pthread_mutex_unlock(mutex)
                let deadline = Self.uptimeNanos() + spinNanos
                while queued.load(ordering: .acquiring) == 0, Self.uptimeNanos() < deadline { sched_yield() }
                pthread_mutex_lock(mutex)
                looking = 0
                lookPolicy.looked(found: head < jobs.count)
                mayLook = false  // found nothing (or found it: the loop takes it); park next time
                continue
            }
            parked += 1
            pthread_cond_wait(condition, mutex)
            parked -= 1
            mayLook = true
        }
        pthread_mutex_unlock(mutex)
    }

    /// The next job (under the lock); nil when none is queued.
    private func take() -> Job? {
        guard head < jobs.count else { return nil }
        let job = jobs[head]
        head += 1
        if head == jobs.count {
            jobs.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024 {
            jobs.removeFirst(head)
            head = 0
        }
        queued.subtract(1, ordering: .relaxed)
        return job
    }

    private static func uptimeNanos() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}

/// When an idle worker looks for work before parking. Looking pays while it finds work: after
/// `maxFruitless` looks in a row found none (jobs come further apart than a look lasts, say
/// one client's queries), only every `probeEvery`-th idle moment looks, so a sparse load does
/// not burn a share of a core on looking; a look that finds work resumes it every time.
struct LookPolicy {
    static let maxFruitless = 4
    static let probeEvery = 16

    private(set) var fruitless = 0
    private var skipped = 0

    /// Whether this idle moment looks.
    mutating func shouldLook() -> Bool {
        guard fruitless >= Self.maxFruitless else { return true }
        skipped += 1
        guard skipped >= Self.probeEvery else { return false }
        skipped = 0
        return true
    }

    /// What the look found.
    mutating func looked(found: Bool) {
        fruitless = found ? 0 : fruitless + 1
    }
}

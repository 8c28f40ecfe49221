#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A value behind a plain pthread mutex: the lock of the caches and registries every query
/// passes through (decision 0040).
///
/// `Synchronization.Mutex` on Linux (Swift 6.3) is a priority-inheritance futex that spins in
/// user space before it sleeps and hands a contended lock straight to the next waiter. With
/// more runnable threads than cores a holder is often preempted, and every other thread that
/// wants the lock spins out its time slice: at `sql.worker.count=8` on two cores, 49 % of the
/// node's CPU was `_MutexHandle._lockSlow` on the snapshot's column-mapping lock and point
/// queries ran at a fifth of their rate (swiftlang/swift#88440). glibc's default mutex takes
/// the lock with one compare-and-swap, sleeps at once when it is held, and lets a woken waiter
/// compete with running threads, so a preempted holder costs the others a sleep, not a spin.
package final class PlainMutex<Value: ~Copyable>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    // Only touched with `mutex` held.
    private var value: Value

    package init(_ value: consuming Value) {
        mutex = .allocate(capacity: 1)
        let status = pthread_mutex_init(mutex, nil)
        precondition(status == 0, "pthread_mutex_init failed (error \(status))")
        self.value = value
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value, the lock held; keep it short and free of blocking calls.
    @inline(__always)
    package func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}

// The query worker pool: every job runs once, a job never waits behind a long one while a
// worker is free (with and without the look-before-parking phase), and shutdown lets queued
// jobs finish while refusing new ones.
#if canImport(Glibc)
import Glibc
#endif
@testable import SQL
import Synchronization
import Testing

/// A one-shot signal between threads, waited for from async code.
private final class Gate: Sendable {
    private let opened = Atomic<Bool>(false)
    func open() { opened.store(true, ordering: .releasing) }
    var isOpen: Bool { opened.load(ordering: .acquiring) }
    /// Waits (yielding) until open; false after `limit` polls, so a broken pool fails the
    /// test instead of hanging it.
    func wait(polls limit: Int = 2_000_000) async -> Bool {
        for _ in 0..<limit {
            if isOpen { return true }
            await Task.yield()
        }
        return isOpen
    }
}

private final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    func increment() { value.add(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

@Suite struct QueryWorkersTests {
    @Test(arguments: [Duration.zero, .microseconds(50)])
    func everyJobRunsOnceFromManySubmitters(spin: Duration) async {
        let pool = QueryWorkers(threads: 2, spin: spin)
        defer { pool.shutdown() }
        let runs = Counter()
        let results = await withTaskGroup(of: Int?.self) { group in
            for index in 0..<2_000 {
                group.addTask {
                    await pool.run { () -> Int in
                        runs.increment()
                        return index * 2
                    }
                }
            }
            var collected: [Int] = []
            for await value in group { collected.append(value ?? -1) }
            return collected
        }
        #expect(runs.count == 2_000)
        #expect(results.sorted() == (0..<2_000).map { $0 * 2 })
    }

    @Test(arguments: [Duration.zero, .microseconds(50), .milliseconds(10)])
    func aJobDoesNotWaitBehindALongOneWhileAWorkerIsFree(spin: Duration) async {
        let pool = QueryWorkers(threads: 2, spin: spin)
        defer { pool.shutdown() }
        let running = Gate()
        let secondRan = Gate()
        // The first job holds its worker until the second job has run on the other one (or
        // gives up after many rounds, so a pool that queued the second behind it fails here
        // rather than hangs).
        let first = Task {
            await pool.run { () -> Bool in
                running.open()
                for _ in 0..<50_000_000 where !secondRan.isOpen { sched_yield() }
                return secondRan.isOpen
            }
        }
        #expect(await running.wait())
        let second = await pool.run { () -> Bool in
            secondRan.open()
            return true
        }
        #expect(second == true)
        #expect(await first.value == true)
    }

    @Test func shutdownRunsQueuedJobsAndRefusesNewOnes() async {
        let pool = QueryWorkers(threads: 1, spin: .zero)
        let running = Gate()
        let release = Gate()
        let blocker = Task { await pool.run { () -> Int in
            running.open()
            while !release.isOpen { sched_yield() }
            return 1
        } }
        #expect(await running.wait())
        // Queued behind the blocker on the only worker, then the pool shuts down.
        let queued = Task { await pool.run { 2 } }
        var polls = 0
        while pool.queuedJobs == 0, polls < 2_000_000 {
            polls += 1
            await Task.yield()
        }
        #expect(pool.queuedJobs == 1)
        pool.shutdown()
        #expect(await pool.run { 3 } == nil)
        release.open()
        #expect(await blocker.value == 1)
        #expect(await queued.value == 2)
    }

    @Test func lookingStopsPayingAfterFruitlessLooksAndResumesWhenOneFinds() {
        var policy = LookPolicy()
        // Every idle moment looks while looks find work, or until a few in a row find none.
        for _ in 0..<10 {
            let looks = policy.shouldLook()
            #expect(looks)
            policy.looked(found: true)
        }
        for _ in 0..<LookPolicy.maxFruitless {
            let looks = policy.shouldLook()
            #expect(looks)
            policy.looked(found: false)
        }
        // Then one idle moment in `probeEvery` looks.
        var looks = 0
        for _ in 0..<(3 * LookPolicy.probeEvery) where policy.shouldLook() {
            looks += 1
            policy.looked(found: false)
        }
        #expect(looks == 3)
        // A probe that finds work brings looking back at every idle moment.
        while !policy.shouldLook() {}
        policy.looked(found: true)
        #expect(policy.fruitless == 0)
        let again = [policy.shouldLook(), policy.shouldLook()]
        #expect(again == [true, true])
    }
}

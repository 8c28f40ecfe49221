// The lock of the per-query caches (decision 0040): exclusion under contention from more
// threads than cores, errors thrown through it, values that cannot be copied.
import Dispatch
import Storage
import Testing

@Suite struct PlainMutexTests {
    @Test func threadsNeverSeeEachOthersHalfDoneUpdates() {
        // Two fields kept equal by every update: a reader seeing them differ saw another
        // thread's update half done.
        struct Pair { var first = 0, second = 0 }
        let pair = PlainMutex(Pair())
        let torn = PlainMutex(0)
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            for _ in 0..<5_000 {
                pair.withLock { value in
                    value.first += 1
                    value.second += 1
                }
                if pair.withLock({ $0.first != $0.second }) { torn.withLock { $0 += 1 } }
            }
        }
        #expect(pair.withLock { ($0.first, $0.second) } == (80_000, 80_000))
        #expect(torn.withLock { $0 } == 0)
    }

    struct Refused: Error, Equatable { let code: Int }

    @Test func anErrorLeavesTheLockFreeAndTheChangeMade() throws {
        let counter = PlainMutex(0)
        #expect(throws: Refused(code: 7)) {
            try counter.withLock { (value: inout Int) throws(Refused) in
                value += 1
                throw Refused(code: 7)
            }
        }
        // Taken again on the same thread: a lock left held would deadlock here.
        #expect(counter.withLock { $0 } == 1)
    }

    struct Token: ~Copyable { var uses = 0 }

    @Test func holdsValuesThatCannotBeCopied() {
        let token = PlainMutex(Token())
        for _ in 0..<3 { token.withLock { $0.uses += 1 } }
        #expect(token.withLock { $0.uses } == 3)
    }
}

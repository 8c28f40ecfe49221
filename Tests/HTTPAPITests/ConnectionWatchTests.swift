// Proves an endpoint's close action runs when the connection closes during its work (or already had), and never after the work ended.
import HTTPAPI
import Synchronization
import Testing

@Suite struct ConnectionWatchTests {
    final class Counter: Sendable {
        let value = Atomic<Int>(0)
        func hit() { value.add(1, ordering: .relaxed) }
        var count: Int { value.load(ordering: .relaxed) }
    }

    @Test func aCloseDuringTheWorkRunsTheActionOnce() async {
        let watch = ConnectionWatch()
        let cancelled = Counter()
        await watch.whileOpen(onClose: { cancelled.hit() }) {
            #expect(cancelled.count == 0)
            watch.closed()
            #expect(cancelled.count == 1)
        }
        watch.closed()
        #expect(cancelled.count == 1)
    }

    @Test func anAlreadyClosedConnectionRunsTheActionAtOnce() async {
        let watch = ConnectionWatch()
        watch.closed()
        let cancelled = Counter()
        await watch.whileOpen(onClose: { cancelled.hit() }) { #expect(cancelled.count == 1) }
    }

    @Test func aCloseAfterTheWorkEndedRunsNothing() async {
        let watch = ConnectionWatch()
        let cancelled = Counter()
        await watch.whileOpen(onClose: { cancelled.hit() }) {}
        watch.closed()
        #expect(cancelled.count == 0)
    }
}

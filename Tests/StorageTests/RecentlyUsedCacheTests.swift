// The LRU behind shared column mappings: hits refresh recency, a full cache drops exactly the least recently used entry, makers run once per miss.
import Storage
import Testing
import TestSupport

@Suite struct RecentlyUsedCacheTests {
    @Test func aFullCacheDropsTheLeastRecentlyUsedEntry() throws {
        let cache = RecentlyUsedCache<Int>(capacity: 3)
        for (key, value) in [("a", 1), ("b", 2), ("c", 3)] { #expect(try cache.value(key) { value } == value) }
        #expect(cache.lookup("a") == 1)  // a is now the newest; b the oldest
        #expect(try cache.value("d") { 4 } == 4)
        #expect(cache.count == 3)
        #expect(cache.lookup("b") == nil)
        #expect(cache.lookup("a") == 1 && cache.lookup("c") == 3 && cache.lookup("d") == 4)
    }

    @Test func aHitDoesNotMakeAgain() throws {
        let cache = RecentlyUsedCache<Int>(capacity: 2)
        var made = 0
        for _ in 0..<5 { _ = try cache.value("k") { made += 1; return 7 } }
        #expect(made == 1)
    }

    /// Against a model (an array ordered by recency) over a long random sequence of uses.
    @Test func randomUseMatchesAModel() throws {
        let capacity = 8
        let cache = RecentlyUsedCache<Int>(capacity: capacity)
        var model: [(key: String, value: Int)] = []  // oldest first
        var random = SplitMix64(seed: 5)
        for step in 0..<20_000 {
            let key = "k\(Int.random(in: 0..<20, using: &random))"
            if Int.random(in: 0..<3, using: &random) == 0 {
                let expected = model.firstIndex { $0.key == key }.map { model[$0].value }
                #expect(cache.lookup(key) == expected, "step \(step)")
                if let index = model.firstIndex(where: { $0.key == key }) { model.append(model.remove(at: index)) }
            } else {
                let value = try cache.value(key) { step }
                if let index = model.firstIndex(where: { $0.key == key }) {
                    #expect(value == model[index].value, "step \(step)")
                    model.append(model.remove(at: index))
                } else {
                    #expect(value == step)
                    model.append((key, step))
                    if model.count > capacity { model.removeFirst() }
                }
            }
            #expect(cache.count == model.count)
        }
    }

    @Test func anEvictedValueIsReleased() throws {
        final class Token: Sendable {}
        let cache = RecentlyUsedCache<Token>(capacity: 1)
        weak var first: Token?
        do {
            let token = Token()
            first = token
            _ = try cache.value("a") { token }
        }
        #expect(first != nil)
        _ = try cache.value("b") { Token() }
        #expect(first == nil)
    }
}

@testable import CairnModels
@testable import CairnQuality
@testable import CairnTraining
import CairnCatalog
import Foundation
import Testing

/// Near-duplicate groups (`cairn check`): thousands of copies of one picture are one group, memory
/// stays linear, and the all-pairs search and the hashed one give the same groups.
@Suite struct DuplicateGroupTests {
    /// `count` random 8x8 thumbnails, normalized as `Thumbnails` makes them.
    private func pictures(_ count: Int, seed: UInt64) -> [[Float]] {
        var random = SeededRandom(seed: seed)
        return (0..<count).map { _ in normalized((0..<64).map { _ in Float(random.normal()) }) }
    }

    private func normalized(_ v: [Float]) -> [Float] {
        let mean = v.reduce(0, +) / Float(v.count)
        let sd = (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(v.count)).squareRoot()
        return v.map { ($0 - mean) / sd }
    }

    private func thumbnails(_ rows: [[Float]], splits: [Split]) -> Thumbnails {
        Thumbnails(normalized: rows.flatMap { $0 }, side: 8, splits: splits, usable: rows.map { _ in true })
    }

    @Test func thousandsOfIdenticalCopiesAreOneGroup() {
        let picture = pictures(1, seed: 1)[0]
        let others = pictures(300, seed: 2)
        let rows = Array(repeating: picture, count: 6_001) + others
        let splits = (0..<rows.count).map { $0 == 0 ? Split.test : $0 % 7 == 0 ? .val : .train }
        for limit in [20_000, 0] {  // the all-pairs search, and the hashed one
            let (pairs, groups) = thumbnails(rows, splits: splits).duplicates(threshold: 0.01, allPairsUpTo: limit)
            #expect(groups.count == 1 && groups[0].count == 6_001, "limit \(limit): \(groups.map(\.count).prefix(5))")
            #expect(pairs.count <= 6_001, "at most one joining pair per image, not \(pairs.count)")
        }
    }

    @Test func bothSearchesFindTheSameGroupsOfNoisyCopies() {
        var random = SeededRandom(seed: 3)
        let originals = pictures(1_000, seed: 4)
        var rows = originals, splits = originals.map { _ in Split.train }
        var planted: [Set<Int>] = []
        for i in stride(from: 0, to: 400, by: 4) {  // 100 originals, each with a noisy copy in test
            rows.append(normalized(originals[i].map { $0 + Float(random.normal()) * 0.02 }))
            splits.append(.test)
            planted.append([i, rows.count - 1])
        }
        // And 800 noisy copies of one picture across splits: one group, however many.
        let crowd = originals[999]
        for j in 0..<800 {
            rows.append(normalized(crowd.map { $0 + Float(random.normal()) * 0.02 }))
            splits.append(j % 2 == 0 ? .val : .test)
        }
        let all = thumbnails(rows, splits: splits).duplicates(threshold: 0.01, allPairsUpTo: 20_000).groups.map(Set.init)
        let hashed = thumbnails(rows, splits: splits).duplicates(threshold: 0.01, allPairsUpTo: 0).groups.map(Set.init)
        #expect(Set(all) == Set(hashed), "\(all.count) groups against \(hashed.count)")
        for pair in planted { #expect(all.contains(pair), "\(pair)") }
        #expect(all.contains { $0.count == 801 && $0.contains(999) }, "\(all.map(\.count).sorted().suffix(3))")
    }
}

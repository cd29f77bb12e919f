@testable import CairnModels
@testable import CairnTraining
import Testing

/// The folds of `cairn suspects` train on copies shifted by up to a pixel: every copy is its sample
/// moved by one whole shift in range (edges repeated), channels kept together, and shifts vary.
@Suite struct LearnerShiftTests {
    @Test func everySampleIsItselfShiftedByAtMostOnePixel() {
        let p = Preprocessing(width: 5, height: 4, channels: 2)
        let count = 40
        let original = (0..<(count * 40)).map { Float($0) }
        var samples = original
        var random = SeededRandom(seed: 3)
        Learner.shift(&samples, count: count, preprocessing: p, by: 1, random: &random)
        func moved(_ n: Int, _ dx: Int, _ dy: Int) -> [Float] {
            var out: [Float] = []
            for y in 0..<4 {
                for x in 0..<5 {
                    let from: Int = min(3, max(0, y - dy)) * 5 + min(4, max(0, x - dx))
                    for k in 0..<2 { out.append(original[n * 40 + from * 2 + k]) }
                }
            }
            return out
        }
        var seen = Set<[Int]>()
        for n in 0..<count {
            let copy = Array(samples[(n * 40)..<((n + 1) * 40)])
            let candidates: [[Int]] = (-1...1).flatMap { dy in (-1...1).map { dx in [dx, dy] } }
            let shifts = candidates.filter { moved(n, $0[0], $0[1]) == copy }
            #expect(!shifts.isEmpty, "sample \(n) is not a shift of itself")
            if let s = shifts.first { seen.insert(s) }
        }
        #expect(seen.count >= 5, "shifts drawn: \(seen)")
    }
}

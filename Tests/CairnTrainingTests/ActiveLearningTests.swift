@testable import CairnQuality
@testable import CairnTraining
import CairnRepository
import CairnTestSupport
import CairnVersioning
import Foundation
import Testing

/// The uncertainty queue against random order on a small seeded case of real digits (the sample's
/// 8x8 digits 0–4): a floor a little below what `cairn-bench active` measures, so a queue that stops
/// choosing well fails here without a benchmark run.
struct ActiveLearningTests {
    @Test func theUncertainQueueIsNeverBehindRandomOrder() throws {
        let fixture = try TestRepository()
        defer { fixture.remove() }
        for digit in 0..<5 {
            let folder = "\(fixture.inputs)/\(digit)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for file in try FileManager.default.contentsOfDirectory(atPath: "\(Fixtures.digits)/\(digit)").sorted().prefix(120) {
                try FileManager.default.copyItem(atPath: "\(Fixtures.digits)/\(digit)/\(file)", toPath: "\(folder)/\(file)")
            }
        }
        var options = ImportOptions()
        options.labelsFromDirectories = true
        _ = try fixture.importInputs(options)
        let versioning = Versioning(repository: fixture.repository)
        _ = try versioning.snapshot(message: "oracle", author: "test")
        let training = Training(versioning: versioning, cairnVersion: "test")
        func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
        var curves: [Training.Order: [LabelingCurve]] = [:]
        for order in [Training.Order.uncertain, .random] {
            for seed in 1...3 {
                curves[order, default: []].append(try training.simulateLabeling(data: "HEAD", order: order, seed: UInt64(seed), budget: 60))
            }
        }
        let budgets = try #require(curves[.uncertain]?.first?.budgets)
        #expect(budgets == [10, 20, 30, 40, 50, 60], "\(budgets)")
        for (i, labels) in budgets.enumerated() where labels >= 30 {
            let uncertain = median(curves[.uncertain]!.map { $0.accuracy[i] }), random = median(curves[.random]!.map { $0.accuracy[i] })
            #expect(uncertain >= random - 0.02, "at \(labels) labels: uncertain \(uncertain), random \(random)")
        }
        let last = median(curves[.uncertain]!.map { $0.accuracy.last! })
        #expect(last >= 0.9, "60 labels in uncertainty order reach \(last)")
    }
}

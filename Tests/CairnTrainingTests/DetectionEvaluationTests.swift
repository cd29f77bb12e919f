import CairnCatalog
import CairnTraining
import Testing

/// COCO's detection figures in the cases that can be worked out by hand (pycocotools itself is the
/// oracle in `BoxEvalCLITests`).
@Suite struct DetectionEvaluationTests {
    private let cat = Box(className: "cat", x: 10, y: 10, width: 40, height: 40)

    /// Equal within 1e-12 (precision is tp / (tp + fp + ε), as pycocotools computes it).
    private func near(_ a: [Double], _ b: [Double]) -> Bool { a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) < 1e-12 } }

    @Test func perfectDetectionsScoreOneAndNoneScoreZero() {
        let perfect = DetectionEvaluation(
            images: [.init(truth: [cat], detections: [BoxPrediction(className: "cat", x: 10, y: 10, width: 40, height: 40, score: 0.9)])],
            classes: ["cat", "dog"])
        // 40x40 is medium: small and large have no truth (-1), and with one box AR@1 is 1.
        #expect(near(perfect.stats, [1, 1, 1, -1, 1, -1, 1, 1, 1, -1, 1, -1]), "\(perfect.stats)")
        #expect(near(perfect.perClass.map(\.ap), [1, -1]) && perfect.perClass[0].truth == 1)
        let missed = DetectionEvaluation(images: [.init(truth: [cat], detections: [])], classes: ["cat"])
        #expect(missed.stats[0] == 0 && missed.stats[8] == 0)
    }

    @Test func aShiftedBoxCountsOnlyBelowItsIoU() {
        // Shifted by 10 of 40: IoU 30x40 / (2x1600 - 1200) = 0.6: a hit at 0.50, 0.55 and 0.60 (numpy's 0.6 exactly), 3 of 10.
        let shifted = BoxPrediction(className: "cat", x: 20, y: 10, width: 40, height: 40, score: 0.5)
        let result = DetectionEvaluation(images: [.init(truth: [cat], detections: [shifted])], classes: ["cat"])
        #expect(near([result.stats[1], result.stats[2]], [1, 0]), "\(result.stats)")
        #expect(abs(result.stats[0] - 0.3) < 1e-12 && abs(result.stats[8] - 0.3) < 1e-12, "\(result.stats)")
        // A crowd box is ignored truth: what matches it neither helps nor hurts; nothing else: -1.
        let crowd = DetectionEvaluation(images: [.init(truth: [Box(className: "cat", x: 0, y: 0, width: 60, height: 60, crowd: true)],
                                                        detections: [shifted])], classes: ["cat"])
        #expect(crowd.stats[0] == -1)
    }
}

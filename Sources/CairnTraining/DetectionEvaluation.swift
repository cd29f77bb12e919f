import CairnCatalog
import Foundation

/// COCO's object-detection evaluation, computed as pycocotools' `COCOeval` (iouType "bbox")
/// computes it, so the figures can be compared with every paper and tool that reports them: the
/// 12 numbers of `summarize()` and AP per class.
///
/// The same rules, step for step: IoU thresholds 0.50:0.05:0.95, 101 recall points, area ranges
/// all / small (< 32²) / medium / large (> 96²) by the truth's area, at most 1, 10, 100 detections
/// per image by score; a crowd box is ignored truth that any number of detections may match (its
/// IoU is the intersection over the detection's area) and those detections are ignored too; a
/// detection matches the best unmatched truth above the threshold, preferring truth that is not
/// ignored; precision is made monotone before it is read at each recall point. Ties in score keep
/// the order of the images and, within one image, the order the detections were given, as
/// pycocotools' stable sorts do. Tested against pycocotools to 1e-6 (`Tests/Python/coco_eval.py`).
public struct DetectionEvaluation: Sendable, Hashable, Codable {
    /// What `COCOeval.summarize()` prints, in its order (-1 where nothing could be measured).
    public var stats: [Double]
    public struct ClassAP: Sendable, Hashable, Codable {
        public var name: String
        /// AP@[.50:.95], AP@.50 and AP@.75 over all areas with 100 detections; -1 without truth.
        public var ap: Double
        public var ap50: Double
        public var ap75: Double
        public var truth: Int
        public var detections: Int
    }
    public var perClass: [ClassAP]
    public var images: Int
    public var truthBoxes: Int
    public var detections: Int

    public static let statNames = ["AP", "AP50", "AP75", "AP small", "AP medium", "AP large",
                                   "AR1", "AR10", "AR100", "AR small", "AR medium", "AR large"]

    /// One image: its true boxes and the model's detections.
    public struct Image {
        public var truth: [Box]
        public var detections: [BoxPrediction]
        public init(truth: [Box], detections: [BoxPrediction]) { (self.truth, self.detections) = (truth, detections) }
    }

    /// Evaluates `images` (in the order pycocotools would sort their ids) for `classes`; boxes of
    /// other classes are left out.
    /// - Complexity: O(Σ truth × detections per image and class × 10 thresholds).
    public init(images: [Image], classes: [String]) {
        let iouThresholds: [Double] = {
            let step = (0.95 - 0.5) / 9  // numpy.linspace(.5, .95, 10)
            return (0..<10).map { $0 == 9 ? 0.95 : Double($0) * step + 0.5 }
        }()
        let recallPoints: [Double] = (0...100).map { $0 == 100 ? 1.0 : Double($0) * (1.0 / 100) }
        let areas: [(Double, Double)] = [(0, 1e10), (0, 32 * 32), (32 * 32, 96 * 96), (96 * 96, 1e10)]
        let maxDets = [1, 10, 100]
        let (T, R, A, M) = (iouThresholds.count, recallPoints.count, areas.count, maxDets.count)
        // precision[t][r][k][a][m] and recall[t][k][a][m], -1 where a class has no truth.
        var precision = [Double](repeating: -1, count: T * R * classes.count * A * M)
        var recall = [Double](repeating: -1, count: T * classes.count * A * M)
        var perClass: [ClassAP] = []

        /// One image and class at one area range (`evaluateImg`).
        struct Evaluated {
            var scores: [Double]
            var matched: [[Bool]]  // [t][detection]
            var ignored: [[Bool]]  // [t][detection]
            var truthIgnored: [Bool]
        }

        for (k, name) in classes.enumerated() {
            var truthCount = 0, detectionCount = 0
            // Per image: truth and detections (by score, stable, at most 100) and their IoUs.
            var prepared: [(truth: [Box], detections: [BoxPrediction], ious: [[Double]])?] = []
            for image in images {
                let truth = image.truth.filter { $0.className == name }
                let given = image.detections.filter { $0.className == name }
                truthCount += truth.count
                detectionCount += given.count
                guard !truth.isEmpty || !given.isEmpty else {
                    prepared.append(nil)
                    continue
                }
                let detections = Array(given.enumerated().sorted { ($1.element.score, $0.offset) < ($0.element.score, $1.offset) }
                    .map(\.element).prefix(maxDets.last!))
                let ious = detections.map { d in truth.map { g in Self.iou(d, g) } }
                prepared.append((truth, detections, ious))
            }
            for (a, range) in areas.enumerated() {
                let evaluated: [Evaluated?] = prepared.map { entry in
                    guard let (truth, detections, ious) = entry else { return nil }
                    let ignore = truth.map { $0.crowd || $0.area < range.0 || $0.area > range.1 }
                    let order = truth.indices.sorted { (ignore[$0] ? 1 : 0, $0) < (ignore[$1] ? 1 : 0, $1) }
                    var matched = [[Bool]](repeating: [Bool](repeating: false, count: detections.count), count: T)
                    var ignored = matched
                    for t in 0..<T {
                        var truthTaken = [Bool](repeating: false, count: truth.count)
                        for d in detections.indices {
                            var best = min(iouThresholds[t], 1 - 1e-10)
                            var m = -1
                            for (position, g) in order.enumerated() {
                                if truthTaken[position] && !truth[g].crowd { continue }
                                if m > -1, !ignore[order[m]], ignore[g] { break }
                                if ious[d][g] < best { continue }
                                best = ious[d][g]
                                m = position
                            }
                            guard m > -1 else { continue }
                            ignored[t][d] = ignore[order[m]]
                            matched[t][d] = true
                            truthTaken[m] = true
                        }
                        for d in detections.indices where !matched[t][d] {
                            let area = detections[d].width * detections[d].height
                            if area < range.0 || area > range.1 { ignored[t][d] = true }
                        }
                    }
                    return Evaluated(scores: detections.map(\.score), matched: matched, ignored: ignored, truthIgnored: order.map { ignore[$0] })
                }
                for (m, maxDet) in maxDets.enumerated() {
                    let present = evaluated.compactMap { $0 }
                    guard !present.isEmpty else { continue }
                    let truthKept = present.reduce(0) { $0 + $1.truthIgnored.filter { !$0 }.count }
                    guard truthKept > 0 else { continue }
                    // Every image's first maxDet detections, by score across images (stable).
                    var pool: [(score: Double, image: Int, index: Int)] = []
                    for (i, e) in present.enumerated() {
                        for d in 0..<min(maxDet, e.scores.count) { pool.append((e.scores[d], i, d)) }
                    }
                    let ranked = pool.enumerated().sorted { ($1.element.score, $0.offset) < ($0.element.score, $1.offset) }.map(\.element)
                    for t in 0..<T {
                        var tp = 0.0, fp = 0.0
                        var recalls: [Double] = [], precisions: [Double] = []
                        recalls.reserveCapacity(ranked.count)
                        precisions.reserveCapacity(ranked.count)
                        for entry in ranked {
                            let e = present[entry.image]
                            if !e.ignored[t][entry.index] {
                                if e.matched[t][entry.index] { tp += 1 } else { fp += 1 }
                            }
                            recalls.append(tp / Double(truthKept))
                            precisions.append(tp / (fp + tp + Double.ulpOfOne))
                        }
                        recall[((t * classes.count + k) * A + a) * M + m] = recalls.last ?? 0
                        if precisions.count > 1 {
                            for i in stride(from: precisions.count - 1, to: 0, by: -1) where precisions[i] > precisions[i - 1] {
                                precisions[i - 1] = precisions[i]
                            }
                        }
                        var position = 0
                        for (r, point) in recallPoints.enumerated() {
                            while position < recalls.count, recalls[position] < point { position += 1 }
                            let value = position < recalls.count ? precisions[position] : 0
                            precision[(((t * R + r) * classes.count + k) * A + a) * M + m] = value
                            if position >= recalls.count {
                                // pycocotools stops at the first recall point past the last detection: the rest stay 0.
                                for rest in (r + 1)..<R { precision[(((t * R + rest) * classes.count + k) * A + a) * M + m] = 0 }
                                break
                            }
                        }
                    }
                }
            }
            func classMean(_ thresholds: [Int]) -> Double {
                var values: [Double] = []
                for t in thresholds { for r in 0..<R { values.append(precision[(((t * R + r) * classes.count + k) * A + 0) * M + 2]) } }
                let kept = values.filter { $0 > -1 }
                return kept.isEmpty ? -1 : kept.reduce(0, +) / Double(kept.count)
            }
            perClass.append(ClassAP(name: name, ap: classMean(Array(0..<T)), ap50: classMean([0]), ap75: classMean([5]), truth: truthCount,
                                    detections: detectionCount))
        }

        func summarize(ap: Bool, threshold: Int? = nil, area: Int = 0, maxDet: Int = 2) -> Double {
            var values: [Double] = []
            for t in threshold.map({ [$0] }) ?? Array(0..<T) {
                for k in classes.indices {
                    if ap {
                        for r in 0..<R { values.append(precision[(((t * R + r) * classes.count + k) * A + area) * M + maxDet]) }
                    } else {
                        values.append(recall[((t * classes.count + k) * A + area) * M + maxDet])
                    }
                }
            }
            let kept = values.filter { $0 > -1 }
            return kept.isEmpty ? -1 : kept.reduce(0, +) / Double(kept.count)
        }
        stats = [summarize(ap: true), summarize(ap: true, threshold: 0), summarize(ap: true, threshold: 5),
                 summarize(ap: true, area: 1), summarize(ap: true, area: 2), summarize(ap: true, area: 3),
                 summarize(ap: false, maxDet: 0), summarize(ap: false, maxDet: 1), summarize(ap: false),
                 summarize(ap: false, area: 1), summarize(ap: false, area: 2), summarize(ap: false, area: 3)]
        self.perClass = perClass
        self.images = images.count
        truthBoxes = images.reduce(0) { $0 + $1.truth.filter { classes.contains($0.className) }.count }
        detections = images.reduce(0) { $0 + $1.detections.filter { classes.contains($0.className) }.count }
    }

    /// pycocotools' box IoU (maskApi `bbIou`): against a crowd box, the intersection over the
    /// detection's area. Not `Box.iou`: the crowd rule, and the same operations in the same order
    /// as the C code, so the figures agree to the last digits.
    static func iou(_ d: BoxPrediction, _ g: Box) -> Double {
        let w = min(d.width + d.x, g.width + g.x) - max(d.x, g.x)
        guard w > 0 else { return 0 }
        let h = min(d.height + d.y, g.height + g.y) - max(d.y, g.y)
        guard h > 0 else { return 0 }
        let intersection = w * h
        let union = g.crowd ? d.width * d.height : d.width * d.height + g.width * g.height - intersection
        return intersection / union
    }
}

/// A `cairn eval --boxes` result kept in the run's record.
public struct BoxEvaluationRecord: Sendable, Hashable, Codable {
    public var dataRef: String
    public var snapshotID: String
    public var split: String
    public var at: Date
    public var evaluation: DetectionEvaluation
    /// Items of the split left out: without a box set, or with sets that differ unreviewed.
    public var withoutBoxes: Int
    public var unresolved: Int
    /// Images with truth that the run predicted nothing for (an image without a line counts as no detections).
    public var notPredicted: Int
}

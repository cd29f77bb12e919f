import CairnCatalog
import CairnTraining

/// Box labels a detector's predictions disagree with, in four kinds, ranked: what a reviewer
/// should look at first in object-detection data.
///
/// The rule follows confident learning's (Northcutt et al., JAIR 2021), carried to boxes: a
/// prediction is *confident* for class c when its score reaches c's threshold t_c, the mean score
/// of the class-c predictions that match a class-c label (IoU ≥ 0.5) — the model's own confidence
/// on boxes it agrees are c. Then, per image (crowd labels are left alone, and so are predictions
/// over them):
/// - **missing**: a confident prediction that no label of any class covers (IoU < 0.5 with all);
/// - **wrong class**: a label with no same-class prediction at IoU ≥ 0.5 but a confident one of
///   another class there (the fix: that class);
/// - **badly located**: a label with no same-class prediction at IoU ≥ 0.5 but a confident one
///   overlapping it less (0.1 ≤ IoU < 0.5) (the fix: the predicted box);
/// - **spurious**: a label that no prediction of any class overlaps (IoU ≥ 0.1) above the lowest
///   threshold's half — the model sees nothing there.
/// Each flag's suspicion is in [0, 1] (a confident prediction's score; for spurious labels, one
/// minus the best overlapping score), and images rank by their most suspicious flag.
public struct BoxSuspects: Sendable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case missing, wrongClass = "wrong class", badlyLocated = "badly located", spurious
    }

    /// One flag: which image, the label concerned (none for a missing box), what the model suggests.
    public struct Flag: Sendable, Codable, Hashable {
        public var image: Int
        public var kind: Kind
        public var label: Box?
        /// The prediction behind the flag: the box a label misses, another class, a better place.
        public var prediction: BoxPrediction?
        public var suspicion: Double
    }

    /// Per-class thresholds t_c (classes without matched predictions: 0.5).
    public let thresholds: [String: Double]
    /// Every flag, most suspicious first.
    public let flags: [Flag]
    /// Image indices by their most suspicious flag, most suspicious first (flagged images only).
    public let ranking: [(image: Int, suspicion: Double)]

    /// Flags `images` (each: labels and predictions; predictions of classes outside `classes` are left out).
    /// - Complexity: O(Σ labels × predictions per image).
    public init(images: [DetectionEvaluation.Image], classes: [String]) {
        func iou(_ p: BoxPrediction, _ b: Box) -> Double { p.box.iou(b) }
        let known = Set(classes)
        let images = images.map { DetectionEvaluation.Image(truth: $0.truth, detections: $0.detections.filter { known.contains($0.className) }) }
        // Thresholds: mean score of the best same-class prediction over each label it matches.
        var sums: [String: (Double, Int)] = [:]
        for image in images {
            for label in image.truth where !label.crowd {
                let same = image.detections.filter { $0.className == label.className && iou($0, label) >= 0.5 }
                if let best = same.max(by: { $0.score < $1.score }) { sums[label.className, default: (0, 0)].0 += best.score; sums[label.className, default: (0, 0)].1 += 1 }
            }
        }
        var thresholds: [String: Double] = [:]
        for name in classes { thresholds[name] = sums[name].map { $0.0 / Double($0.1) } ?? 0.5 }
        let floor = (thresholds.values.min() ?? 0.5) / 2
        var flags: [Flag] = []
        for (index, image) in images.enumerated() {
            var used = Set<Int>()  // predictions a label's flag already stands for
            let crowds = image.truth.filter(\.crowd)
            for label in image.truth where !label.crowd {
                let overlaps = image.detections.indices.map { (index: $0, iou: iou(image.detections[$0], label)) }
                if overlaps.contains(where: { image.detections[$0.index].className == label.className && $0.iou >= 0.5 }) {
                    for o in overlaps where o.iou >= 0.5 { used.insert(o.index) }
                    continue
                }
                func confident(_ i: Int) -> Bool { image.detections[i].score >= thresholds[image.detections[i].className] ?? 1 }
                if let other = overlaps.filter({ $0.iou >= 0.5 && confident($0.index) }).max(by: { image.detections[$0.index].score < image.detections[$1.index].score }) {
                    used.insert(other.index)
                    flags.append(Flag(image: index, kind: .wrongClass, label: label, prediction: image.detections[other.index],
                                      suspicion: image.detections[other.index].score))
                } else if let near = overlaps.filter({ image.detections[$0.index].className == label.className && $0.iou > 0 && confident($0.index) })
                    .max(by: { $0.iou < $1.iou }) {
                    used.insert(near.index)
                    flags.append(Flag(image: index, kind: .badlyLocated, label: label, prediction: image.detections[near.index],
                                      suspicion: image.detections[near.index].score * (1 - near.iou)))
                } else {
                    let seen = overlaps.filter { $0.iou >= 0.1 }.map { image.detections[$0.index].score }.max() ?? 0
                    if seen < floor { flags.append(Flag(image: index, kind: .spurious, label: label, prediction: nil, suspicion: 1 - seen)) }
                    for o in overlaps where o.iou >= 0.1 { used.insert(o.index) }
                }
            }
            for (i, prediction) in image.detections.enumerated() where !used.contains(i) && prediction.score >= thresholds[prediction.className] ?? 1 {
                guard !image.truth.contains(where: { iou(prediction, $0) >= 0.5 }),
                      !crowds.contains(where: { iou(prediction, $0) > 0 }) else { continue }
                flags.append(Flag(image: index, kind: .missing, label: nil, prediction: prediction, suspicion: prediction.score))
            }
        }
        flags.sort { ($0.suspicion, -$0.image) > ($1.suspicion, -$1.image) }
        var best: [Int: Double] = [:]
        for flag in flags where best[flag.image] == nil { best[flag.image] = flag.suspicion }
        self.thresholds = thresholds
        self.flags = flags
        ranking = best.map { ($0.key, $0.value) }.sorted { ($0.1, -$0.0) > ($1.1, -$1.0) }
    }
}

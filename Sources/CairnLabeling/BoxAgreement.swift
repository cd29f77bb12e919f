import CairnCatalog
import Foundation

/// How well annotators agree on boxes. For each pair of annotators and each item both drew on, boxes
/// are matched one to one within a class at IoU ≥ `threshold` (greedily, highest IoU first); F1 is
/// 2·matched / (A's boxes + B's boxes), which is symmetric, and is pooled over items per pair, per
/// class (over every pair) and overall. The mean IoU of matched boxes says how tightly they agree.
/// κ does not apply: boxes have no fixed set of answers to expect by chance.
public struct BoxAgreementReport: Sendable, Hashable, Codable {
    public struct Counts: Sendable, Hashable, Codable {
        /// Boxes drawn by the first and the second annotator, and boxes matched between them.
        public var boxesA = 0, boxesB = 0, matched = 0
        /// Sum of the matched pairs' IoU.
        public var iouSum = 0.0
        public var f1: Double? { boxesA + boxesB == 0 ? nil : 2 * Double(matched) / Double(boxesA + boxesB) }
        public var meanIoU: Double? { matched == 0 ? nil : iouSum / Double(matched) }

        mutating func add(_ other: Counts) {
            (boxesA, boxesB, matched, iouSum) = (boxesA + other.boxesA, boxesB + other.boxesB, matched + other.matched, iouSum + other.iouSum)
        }
    }
    public struct Pair: Sendable, Hashable, Codable {
        public var a: String
        public var b: String
        /// Items both drew on.
        public var items: Int
        public var counts: Counts
    }
    public struct ClassRow: Sendable, Hashable, Codable {
        public var className: String
        public var counts: Counts
    }

    public var threshold: Double
    public var pairs: [Pair] = []
    public var perClass: [ClassRow] = []
    public var overall = Counts()
    /// Items drawn on by two or more annotators.
    public var items = 0

    /// Agreement among the box sets of each item (annotator → set).
    public init(sets: [[String: BoxSet]], threshold: Double = 0.5) {
        self.threshold = threshold
        var pairCounts: [[String]: (items: Int, counts: Counts)] = [:]
        var classCounts: [String: Counts] = [:]
        for item in sets where item.count >= 2 {
            items += 1
            let people = item.keys.sorted(by: utf8Precedes)
            for (i, a) in people.enumerated() {
                for b in people[(i + 1)...] {
                    var onItem = Counts()
                    for name in Set(item[a]!.boxes.map(\.className)).union(item[b]!.boxes.map(\.className)) {
                        let x = item[a]!.boxes.filter { $0.className == name }, y = item[b]!.boxes.filter { $0.className == name }
                        let matches = BoxSet.pairs(x, y, minimumIoU: threshold, sameClassOnly: true)
                        let counts = Counts(boxesA: x.count, boxesB: y.count, matched: matches.count,
                                            iouSum: matches.reduce(0) { $0 + x[$1.0].iou(y[$1.1]) })
                        classCounts[name, default: Counts()].add(counts)
                        onItem.add(counts)
                    }
                    pairCounts[[a, b], default: (0, Counts())].items += 1
                    pairCounts[[a, b]]!.counts.add(onItem)
                    overall.add(onItem)
                }
            }
        }
        pairs = pairCounts.map { Pair(a: $0.key[0], b: $0.key[1], items: $0.value.items, counts: $0.value.counts) }
            .sorted { ($0.a, $0.b) < ($1.a, $1.b) }
        perClass = classCounts.map { ClassRow(className: $0.key, counts: $0.value) }.sorted { utf8Precedes($0.className, $1.className) }
    }

    /// Agreement among every annotator's latest box set in `catalog` (sets imported as `import` left out unless `includeImport`).
    public init(catalog: any Catalog, includeImport: Bool = false, threshold: Double = 0.5) throws {
        var sets: [[String: BoxSet]] = []
        try catalog.read { tx in
            try tx.forEachItemRecord(ids: nil) { _, record in
                guard let boxes = record.boxes else { return }
                var out: [String: BoxSet] = [:]
                for entry in boxes.annotations where includeImport || entry.person != Annotator.importName { out[entry.person] = entry.boxes }
                if out.count >= 2 { sets.append(out) }
            }
        }
        self.init(sets: sets, threshold: threshold)
    }
}

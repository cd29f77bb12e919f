import CairnStore
import Foundation

/// One bounding box: a class and a rectangle in pixels of the stored image (x, y the top-left
/// corner), with COCO's `iscrowd` and an occluded flag. What annotators draw and reviewers decide
/// is a set of boxes (`BoxSet`), appended to an item's box history like a class label.
///
/// ```swift
/// let box = Box(className: "cat", x: 10, y: 20, width: 30.5, height: 40)
/// try box.check(imageWidth: 64, imageHeight: 64)   // inside the image, positive size
/// ```
public struct Box: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var className: String
    public var x: Double
    public var y: Double
    public var width: Double
    public var height: Double
    /// COCO's `iscrowd`: one box around a crowd of objects.
    public var crowd: Bool
    public var occluded: Bool

    public init(className: String, x: Double, y: Double, width: Double, height: Double, crowd: Bool = false, occluded: Bool = false) {
        // -0.0 and 0.0 are one coordinate: keep one encoding.
        (self.className, self.x, self.y, self.width, self.height) = (className, x + 0, y + 0, width + 0, height + 0)
        (self.crowd, self.occluded) = (crowd, occluded)
    }

    /// The flags as one byte: bit 0 crowd, bit 1 occluded.
    public var flags: UInt8 { (crowd ? 1 : 0) | (occluded ? 2 : 0) }

    public var area: Double { width * height }

    /// Intersection over union with `other` (0 when either has no area).
    public func iou(_ other: Box) -> Double {
        let w = min(x + width, other.x + other.width) - max(x, other.x)
        let h = min(y + height, other.y + other.height) - max(y, other.y)
        guard w > 0, h > 0 else { return 0 }
        let inter = w * h
        return inter / (area + other.area - inter)
    }

    /// Refuses a box that is not a finite rectangle of positive size inside a `imageWidth` x `imageHeight` image.
    public func check(imageWidth: Int, imageHeight: Int) throws {
        try checkShape()
        guard x >= 0, y >= 0, x + width <= Double(imageWidth), y + height <= Double(imageHeight) else {
            throw CatalogError.invalidBox(self, reason: "it is not inside the \(imageWidth)x\(imageHeight) image")
        }
    }

    /// Refuses a box that is not a finite rectangle of positive size (wherever it is).
    public func checkShape() throws(CatalogError) {
        guard [x, y, width, height].allSatisfy(\.isFinite) else { throw .invalidBox(self, reason: "a coordinate is not a finite number") }
        guard width > 0, height > 0 else { throw .invalidBox(self, reason: "its width and height must be positive") }
    }

    /// The canonical order of a set's boxes: class name (UTF-8), then x, y, width, height, flags.
    public static func < (a: Box, b: Box) -> Bool {
        if a.className != b.className { return utf8Precedes(a.className, b.className) }
        return (a.x, a.y, a.width, a.height, a.flags) < (b.x, b.y, b.width, b.height, b.flags)
    }

    /// `[x,y,w,h]` with the class, as messages and `show` print it.
    public var description: String {
        func n(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v) }
        var text = "\(className) [\(n(x)), \(n(y)), \(n(width)), \(n(height))]"
        if crowd { text += " crowd" }
        if occluded { text += " occluded" }
        return text
    }
}

/// What one person said about an item's objects: its boxes, in canonical order, each at most once.
/// The empty set is an answer ("no objects here"), as the empty class set is in multi-label work.
public struct BoxSet: Sendable, Hashable, Codable, Comparable {
    public let boxes: [Box]

    public init(_ boxes: some Sequence<Box>) { self.init(canonical: Array(Set(boxes)).sorted()) }

    /// A set of `boxes` that are most likely in canonical order already: checked in one pass, and sorted only when they are not.
    public init(sorted boxes: [Box]) {
        if zip(boxes, boxes.dropFirst()).allSatisfy({ $0 < $1 }) { self.init(canonical: boxes) } else { self.init(boxes) }
    }

    private init(canonical: [Box]) { boxes = canonical }

    public var isEmpty: Bool { boxes.isEmpty }
    public var count: Int { boxes.count }

    public init(from decoder: any Decoder) throws { self.init(try decoder.singleValueContainer().decode([Box].self)) }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(boxes)
    }

    public static func < (a: BoxSet, b: BoxSet) -> Bool { a.boxes.lexicographicallyPrecedes(b.boxes) }

    /// Boxes per class.
    public var classCounts: [String: Int] { boxes.reduce(into: [:]) { $0[$1.className, default: 0] += 1 } }

    /// The text a box label's stamp hashes (`LabelOrder`): `boxes:` then each box as
    /// `CLASS@x,y,w,h,flags` (shortest round-trip decimals), `;` between boxes.
    public var canonicalText: String {
        "boxes:" + boxes.map { "\($0.className)@\($0.x),\($0.y),\($0.width),\($0.height),\($0.flags)" }.joined(separator: ";")
    }
}

/// One person's latest box set for an item (a snapshot's provenance).
public struct PersonBoxes: Sendable, Hashable, Codable {
    public var person: String
    public var boxes: BoxSet
    public init(person: String, boxes: BoxSet) { (self.person, self.boxes) = (person, boxes) }
}

/// An item's boxes as snapshots record them: each annotator's latest box set, the latest reviewer
/// verdict, and what `BoxPolicy` resolves them to.
public struct BoxRecord: Sendable, Hashable, Codable {
    /// Each annotator's latest set, sorted by annotator.
    public var annotations: [PersonBoxes]
    public var verdict: PersonBoxes?

    public init(annotations: [PersonBoxes], verdict: PersonBoxes?) {
        self.annotations = annotations.count > 1 ? annotations.sorted { utf8Precedes($0.person, $1.person) } : annotations
        self.verdict = verdict
    }

    /// The boxes the policy settles on; nil while annotators' sets differ and nobody reviewed them.
    public var resolved: BoxSet? { BoxPolicy.resolve(annotations.map(\.boxes), verdict: verdict?.boxes) }

    private enum CodingKeys: String, CodingKey { case annotations, verdict, resolved }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(annotations: try c.decode([PersonBoxes].self, forKey: .annotations), verdict: try c.decodeIfPresent(PersonBoxes.self, forKey: .verdict))
    }

    /// Written with the resolved set, for readers of exports; read back from the provenance alone.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(annotations, forKey: .annotations)
        try c.encodeIfPresent(verdict, forKey: .verdict)
        try c.encodeIfPresent(resolved, forKey: .resolved)
    }
}

/// The one place that decides an item's boxes (Docs/LABELS.md, "Boxes"), as `LabelPolicy` does for classes:
/// 1. a reviewer's latest verdict;
/// 2. else, when every annotator's latest set is the same set, that set (one annotator: theirs);
/// 3. else unresolved (nil): differing sets wait for a reviewer, and no sets mean no boxes were drawn.
public enum BoxPolicy {
    public static func resolve(_ sets: [BoxSet], verdict: BoxSet?) -> BoxSet? {
        if let verdict { return verdict }
        guard let first = sets.first, sets.allSatisfy({ $0 == first }) else { return nil }
        return first
    }
}

/// One entry of an item's box history (`CatalogBoxesReading.boxLabels`).
public struct BoxLabel: Sendable, Hashable, Codable {
    public var person: String
    public var boxes: BoxSet
    public var createdAt: Date
    /// What a model suggested on the image while the set was drawn, if the labeling UI showed suggestions.
    public var suggestion: BoxSuggestionShown?
    public init(person: String, boxes: BoxSet, createdAt: Date, suggestion: BoxSuggestionShown? = nil) {
        (self.person, self.boxes, self.createdAt, self.suggestion) = (person, boxes, createdAt, suggestion)
    }
}

/// How one box set became another, boxes paired by overlap (`BoxSet.changes(to:)`).
public struct BoxChanges: Sendable, Hashable, Codable {
    /// A box before and after.
    public struct Pair: Sendable, Hashable, Codable {
        public var old: Box
        public var new: Box
        public init(old: Box, new: Box) { (self.old, self.new) = (old, new) }
    }
    public var added: [Box] = []
    public var removed: [Box] = []
    /// Same class, another rectangle or flags.
    public var moved: [Pair] = []
    /// Another class (and perhaps another rectangle).
    public var relabeled: [Pair] = []

    public var isEmpty: Bool { added.isEmpty && removed.isEmpty && moved.isEmpty && relabeled.isEmpty }
}

extension BoxSet {
    /// Boxes of both sets paired greedily by IoU, highest first, down to `minimumIoU` — each box at
    /// most once. Pairs of the same class come before pairs across classes at equal IoU.
    public static func pairs(_ a: [Box], _ b: [Box], minimumIoU: Double = 0.5, sameClassOnly: Bool = false) -> [(Int, Int)] {
        var candidates: [(iou: Double, same: Bool, i: Int, j: Int)] = []
        for (i, x) in a.enumerated() {
            for (j, y) in b.enumerated() where !sameClassOnly || x.className == y.className {
                let iou = x.iou(y)
                if iou >= minimumIoU { candidates.append((iou, x.className == y.className, i, j)) }
            }
        }
        candidates.sort { ($0.iou, $0.same ? 1 : 0, -$0.i, -$0.j) > ($1.iou, $1.same ? 1 : 0, -$1.i, -$1.j) }
        var usedA = Set<Int>(), usedB = Set<Int>(), out: [(Int, Int)] = []
        for c in candidates where !usedA.contains(c.i) && !usedB.contains(c.j) {
            usedA.insert(c.i)
            usedB.insert(c.j)
            out.append((c.i, c.j))
        }
        return out
    }

    /// What changed from `self` to `new`: boxes in both stay out; the rest are paired by IoU ≥ 0.5
    /// (moved when the class is the same, relabeled when not); unpaired boxes were added or removed.
    public func changes(to new: BoxSet) -> BoxChanges {
        let kept = Set(boxes).intersection(new.boxes)
        let a = boxes.filter { !kept.contains($0) }, b = new.boxes.filter { !kept.contains($0) }
        var out = BoxChanges()
        let pairs = Self.pairs(a, b)
        for (i, j) in pairs {
            let pair = BoxChanges.Pair(old: a[i], new: b[j])
            if a[i].className == b[j].className { out.moved.append(pair) } else { out.relabeled.append(pair) }
        }
        let pairedA = Set(pairs.map(\.0)), pairedB = Set(pairs.map(\.1))
        out.removed = a.indices.filter { !pairedA.contains($0) }.map { a[$0] }
        out.added = b.indices.filter { !pairedB.contains($0) }.map { b[$0] }
        return out
    }
}

/// A suggested change to an item's boxes (a box suspect's fix): take out `remove`, put in `add`.
public struct BoxFix: Sendable, Hashable, Codable {
    public var remove: Box?
    public var add: Box?
    public init(remove: Box?, add: Box?) { (self.remove, self.add) = (remove, add) }
}

/// A run's suggested box changes by image, each image's in the order the accept key takes them:
/// what `cairn label --boxes --suggest` and the box suspects queue offer.
public struct BoxSuggestions: Sendable {
    public var run: String
    public var fixes: [BlobID: [BoxFix]]
    public init(run: String, fixes: [BlobID: [BoxFix]]) { (self.run, self.fixes) = (run, fixes) }
}

/// A model's suggested box changes as an annotator saw them on an image (`label --boxes --suggest`,
/// the box suspects queue): provenance of a box set, never boxes of it — as `SuggestionShown` is
/// for a class label.
public struct BoxSuggestionShown: Sendable, Hashable, Codable {
    /// The run whose model made them.
    public var run: String
    /// The changes shown, in the order the accept key takes them.
    public var fixes: [BoxFix]
    /// Which of `fixes` (indices, in the order taken) the annotator took with the accept key.
    public var taken: [Int]

    public init(run: String, fixes: [BoxFix], taken: [Int]) { (self.run, self.fixes, self.taken) = (run, fixes, taken) }

    /// Most changes one record holds (a predictions file's limit of boxes per image).
    public static let maximumFixes = 10_000

    /// - Throws: `CatalogError.invalidBoxSuggestion` unless the run is named, there are at most
    ///   `maximumFixes` changes, each adds or takes out a box, and `taken` names each of them at most
    ///   once; `.invalidBox` for a suggested box that is not a finite rectangle of positive size.
    public func check() throws(CatalogError) {
        guard !run.isEmpty, run.utf8.count <= 256 else { throw .invalidBoxSuggestion("the run's name is empty or too long") }
        guard fixes.count <= Self.maximumFixes else { throw .invalidBoxSuggestion("more than \(Self.maximumFixes) changes") }
        for fix in fixes {
            let boxes = [fix.add, fix.remove].compactMap { $0 }
            guard !boxes.isEmpty else { throw .invalidBoxSuggestion("a change neither adds nor takes out a box") }
            for box in boxes { try box.checkShape() }
        }
        guard taken.allSatisfy(fixes.indices.contains), Set(taken).count == taken.count else {
            throw .invalidBoxSuggestion("the changes taken are not each one of those shown, once")
        }
    }

    /// How many taken changes `saved` still shows as the model proposed them: the box it adds is in
    /// the set, the box it takes out is not (the others were changed or undone after being taken).
    public func keptAsProposed(in saved: BoxSet) -> Int {
        let boxes = Set(saved.boxes)
        return taken.filter { index in
            guard fixes.indices.contains(index) else { return false }
            let fix = fixes[index]
            return fix.add.map(boxes.contains) != false && fix.remove.map(boxes.contains) != true
        }.count
    }

    /// The JSON the catalogs store.
    public func json() throws -> String { String(decoding: try JSONEncoder().encode(self), as: UTF8.self) }

    /// The suggestion a stored row holds, nil when none or unreadable (provenance never blocks reading boxes).
    public static func stored(_ json: String?) -> BoxSuggestionShown? {
        json.flatMap { try? JSONDecoder().decode(Self.self, from: Data($0.utf8)) }
    }
}

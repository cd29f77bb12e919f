import CairnCatalog
import CairnStore
import CairnSupport
import Foundation

/// What `Versioning.importBoxes` did.
public struct BoxImportReport: Sendable, Codable {
    public var file: String
    public var annotator: String
    /// Images of the file, and those whose boxes were recorded (the rest already had that set from this annotator).
    public var images = 0
    public var recorded = 0
    public var boxes = 0
    public var classesAdded: [String] = []
    /// Boxes moved inside their image by `clip`.
    public var clipped = 0
}

/// How `importBoxes` treats what Cairn's boxes cannot hold, or boxes that cross the image's edge.
public struct BoxImportOptions: Sendable {
    /// Import the box of an annotation that also has a segmentation (polygon or RLE), dropping the
    /// segmentation; without it such a file is refused, since the import would lose it.
    public var ignoreSegmentation = false
    /// Clip boxes that cross the image's edge to the image (a box left with no area is still refused).
    public var clip = false
    /// Pascal VOC: import objects marked truncated, difficult or with a pose, dropping those marks
    /// (Cairn's boxes have no place for them); without it such a file is refused.
    public var dropFlags = false
    public init(ignoreSegmentation: Bool = false, clip: Bool = false, dropFlags: Bool = false) {
        (self.ignoreSegmentation, self.clip, self.dropFlags) = (ignoreSegmentation, clip, dropFlags)
    }
}

/// A COCO object-detection file as read (`COCOReader`): the fields Cairn uses, others ignored. The
/// `Decodable` conformances say the same with `JSONDecoder`, the reader's oracle in tests.
struct COCOInput: Decodable, Equatable {
    struct Image: Decodable, Equatable {
        var id: Int64, file_name: String, width: Int, height: Int
        /// Written by `cairn export --format coco`: the image's blob id and imported path.
        var cairn_blob_id: String?, cairn_path: String?
    }
    struct Category: Decodable, Equatable { var id: Int64, name: String }
    struct Annotation: Decodable, Equatable {
        var id: Int64, image_id: Int64, category_id: Int64, bbox: BBox
        var iscrowd: Int?
        var segmentation: Segmentation?
        /// CVAT's COCO export writes `attributes.occluded`.
        var attributes: Attributes?
    }
    struct Attributes: Decodable, Equatable { var occluded: Bool? }
    /// `[x, y, width, height]`, held without an array (millions of them); `count` is how many
    /// numbers the file gave, which must be 4.
    struct BBox: Decodable, Equatable {
        var x = 0.0, y = 0.0, width = 0.0, height = 0.0
        var count = 0
        var values: [Double] { Array([x, y, width, height].prefix(count)) }

        init(_ numbers: some Sequence<Double>) {
            for value in numbers { append(value) }
        }

        mutating func append(_ value: Double) {
            switch count {
            case 0: x = value
            case 1: y = value
            case 2: width = value
            case 3: height = value
            default: break
            }
            count += 1
        }

        init(from decoder: any Decoder) throws {
            var c = try decoder.unkeyedContainer()
            var numbers: [Double] = []
            while !c.isAtEnd { numbers.append(try c.decode(Double.self)) }
            self.init(numbers)
        }
    }
    /// A polygon list or an RLE object; only whether it says more than the box matters here.
    struct Segmentation: Decodable, Equatable {
        /// Rings of at most 4 points (larger ones are only counted in `isLarge`).
        var polygons: [[Double]]?
        var isRLE = false
        var isLarge = false
        init(polygons: [[Double]]) { self.polygons = polygons }
        init(rle: Bool) { isRLE = rle }
        init(large: Bool) { isLarge = large }
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let polygons = try? c.decode([[Double]].self) {
                if polygons.contains(where: { $0.count > 8 }) { isLarge = true } else { self.polygons = polygons }
            } else {
                isRLE = true
            }
        }

        /// True when it is empty or the box's own rectangle (as many converters write it).
        func isBox(_ b: [Double]) -> Bool {
            guard !isRLE, !isLarge, let polygons else { return false }
            if polygons.isEmpty || polygons.allSatisfy(\.isEmpty) { return true }
            guard polygons.count == 1, polygons[0].count == 8 else { return false }
            let (x0, y0, x1, y1) = (b[0], b[1], b[0] + b[2], b[1] + b[3])
            let corners = stride(from: 0, to: 8, by: 2).map { [polygons[0][$0], polygons[0][$0 + 1]] }
            let want = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
            func near(_ p: [Double], _ q: [Double]) -> Bool { abs(p[0] - q[0]) < 1e-6 && abs(p[1] - q[1]) < 1e-6 }
            return want.allSatisfy { w in corners.contains { near($0, w) } }
        }
    }
    var images: [Image]
    var categories: [Category]
    var annotations: [Annotation]
}

extension Versioning {
    /// Imports the boxes of a COCO object-detection file as `annotator`'s box sets: every image of
    /// the file is matched to an item (by `cairn_blob_id` when the file came from a Cairn export,
    /// else by imported path, else by the one item whose path ends in `/file_name` or ends
    /// `file_name`, by whole path components), and
    /// its annotations become one set; an image listed without annotations is the empty set (no
    /// objects). Missing classes are added. All or nothing: the whole file is checked before one
    /// transaction writes it.
    /// - Throws: `VersioningError.badAnnotations` naming the file and the image or annotation.
    public func importBoxes(cocoFile path: String, annotator: String, options: BoxImportOptions = BoxImportOptions()) throws -> BoxImportReport {
        if catalog.isReadOnly { throw CatalogError.readOnly(location: catalog.location) }
        // Mapped, not read: a file of millions of boxes is hundreds of megabytes.
        guard FileOps.exists(path), let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else {
            throw VersioningError.badAnnotations(path: path, reason: "cannot read the file")
        }
        let file = try COCOFile(data, path: path, options: options)
        func bad(_ reason: String) -> VersioningError { .badAnnotations(path: path, reason: reason) }
        var report = BoxImportReport(file: path, annotator: annotator)
        report.clipped = file.clipped
        report.images = file.images.count
        return try repository.withLock(exclusive: false) {
            try catalog.write { tx in
                let matcher = ItemMatcher(try tx.allItems())
                func item(for image: COCOFile.Image) throws -> Item {
                    try matcher.item(blobID: image.cairnBlobID, paths: [image.cairnPath].compactMap { $0 }, fileName: image.fileName) {
                        bad("image \(image.id) ('\(Printable.escaped(image.fileName))') \($0)")
                    }
                }
                var matched: [(Item, BoxSet)] = []
                var imageOf: [Int64: Int64] = [:]
                for image in file.images {
                    let found = try item(for: image)
                    if let other = imageOf.updateValue(image.id, forKey: found.id) {
                        throw bad("images \(other) and \(image.id) both name the item at \(Printable.escaped(found.path)); an image is listed once")
                    }
                    guard found.width == image.width, found.height == image.height else {
                        throw bad("image \(image.id) ('\(Printable.escaped(image.fileName))') is \(image.width)x\(image.height) in the file "
                                  + "but \(found.width)x\(found.height) in the repository")
                    }
                    matched.append((found, image.boxes))
                }
                try recordBoxSets(tx, matched, classNames: file.classes, annotator: annotator, report: &report)
                return report
            }
        }
    }

    /// Records an import's box sets as `annotator`'s, adding the classes of `classNames` that are
    /// missing; a set the annotator already has as their latest is not appended again, so importing
    /// twice changes nothing.
    func recordBoxSets(_ tx: any CatalogTransaction, _ matched: [(Item, BoxSet)], classNames: [String], annotator: String,
                       report: inout BoxImportReport) throws {
        var classes = Dictionary(uniqueKeysWithValues: try tx.classes().map { ($0.name, $0) })
        for name in classNames where classes[name] == nil {
            classes[name] = try tx.addClass(name)
            report.classesAdded.append(name)
        }
        let who = try tx.ensureAnnotator(annotator)
        let current = try tx.itemRecords(ids: matched.map(\.0.id))
        let now = Date()
        for (item, set) in matched {
            if current[item.id]?.boxes?.annotations.first(where: { $0.person == annotator })?.boxes == set { continue }
            try tx.appendBoxes(.annotations, item: item, personID: who.id, boxes: set, classes: classes, at: now)
            report.recorded += 1
            report.boxes += set.count
        }
    }
}

/// A COCO object-detection file, parsed and checked: every id unique and every reference known,
/// every class name one Cairn accepts, every box four finite numbers inside its image (after
/// clipping when asked), no segmentation the boxes would lose unless told to drop it.
public struct COCOFile: Sendable {
    public struct Image: Sendable {
        public var id: Int64, fileName: String, width: Int, height: Int
        /// Written by `cairn export --format coco`.
        public var cairnBlobID: String?, cairnPath: String?
        /// The image's boxes (none: the image has no objects).
        public var boxes: BoxSet
    }
    public var images: [Image]
    /// The category names, as classes.
    public var classes: [String]
    /// Boxes moved inside their image (`BoxImportOptions.clip`).
    public var clipped: Int

    /// - Throws: `VersioningError.badAnnotations` naming `path` and the image, category or annotation.
    public init(_ data: Data, path: String, options: BoxImportOptions = BoxImportOptions()) throws {
        func bad(_ reason: String) -> VersioningError { .badAnnotations(path: path, reason: reason) }
        var input: COCOInput
        do {
            input = try COCOReader.read(data)
        } catch let error as COCOReader.Failure {
            throw bad("not a COCO detection file: \(error)")
        }
        // Ids are unique; every class name is one Cairn accepts.
        var categories: [Int64: String] = [:]
        for category in input.categories {
            guard categories[category.id] == nil else { throw bad("category id \(category.id) appears twice") }
            do { try LabelClass.validate(name: category.name) } catch { throw bad("category \(category.id): \(error)") }
            categories[category.id] = category.name
        }
        guard Set(categories.values).count == categories.count else { throw bad("two categories share a name") }
        var images: [Int64: COCOInput.Image] = [:]
        for image in input.images {
            guard images[image.id] == nil else { throw bad("image id \(image.id) appears twice") }
            images[image.id] = image
        }
        var boxes: [Int64: [Box]] = [:]
        var clipped = 0
        var annotationIDs = Set<Int64>()
        for a in input.annotations {
            let which = "annotation \(a.id)"
            guard annotationIDs.insert(a.id).inserted else { throw bad("annotation id \(a.id) appears twice") }
            guard let image = images[a.image_id] else { throw bad("\(which) names image \(a.image_id), which the file does not list") }
            guard let name = categories[a.category_id] else { throw bad("\(which) names category \(a.category_id), which the file does not list") }
            guard a.bbox.count == 4, a.bbox.values.allSatisfy(\.isFinite) else { throw bad("\(which): bbox must be four finite numbers [x, y, width, height]") }
            if let segmentation = a.segmentation, !segmentation.isBox(a.bbox.values), !options.ignoreSegmentation {
                throw bad("\(which) has a segmentation (\(segmentation.isRLE ? "RLE" : "polygon")), which Cairn's boxes do not keep; "
                          + "pass --ignore-segmentation to import its box alone")
            }
            guard [nil, 0, 1].contains(a.iscrowd) else { throw bad("\(which): iscrowd must be 0 or 1") }
            var box = Box(className: name, x: a.bbox.x, y: a.bbox.y, width: a.bbox.width, height: a.bbox.height, crowd: a.iscrowd == 1,
                          occluded: a.attributes?.occluded ?? false)
            let (imageWidth, imageHeight) = (Double(image.width), Double(image.height))
            if options.clip, box.x < 0 || box.y < 0 || box.x + box.width > imageWidth || box.y + box.height > imageHeight {
                let (x0, y0) = (max(box.x, 0), max(box.y, 0))
                box = Box(className: name, x: x0, y: y0, width: min(box.x + box.width, imageWidth) - x0,
                          height: min(box.y + box.height, imageHeight) - y0, crowd: box.crowd, occluded: box.occluded)
                clipped += 1
            }
            do { try box.check(imageWidth: image.width, imageHeight: image.height) } catch {
                throw bad("\(which) on image \(image.id) ('\(Printable.escaped(image.file_name))'): \(error)"
                          + (options.clip ? "" : " (--clip moves boxes that cross the edge inside the image)"))
            }
            boxes[image.id, default: []].append(box)
        }
        // Millions of boxes: each is held once at a time (the annotations go before the sets are made).
        input.annotations = []
        self.images = input.images.map {
            Image(id: $0.id, fileName: $0.file_name, width: $0.width, height: $0.height, cairnBlobID: $0.cairn_blob_id,
                  cairnPath: $0.cairn_path, boxes: BoxSet(boxes.removeValue(forKey: $0.id) ?? []))
        }
        classes = Set(categories.values).sorted(by: utf8Precedes)
        self.clipped = clipped
    }
}

/// Finds the item an annotation file's image means, in one pass over the catalog's items: by blob
/// id (files Cairn exported), else by imported path, else by the one item whose path ends in
/// `/FILE_NAME` or that `FILE_NAME` ends in, by whole path components.
struct ItemMatcher {
    private let byBlob: [BlobID: Item]
    private let byPath: [String: Item]
    private var byName: [String: [Item]] = [:]

    init(_ items: [Item]) {
        byBlob = Dictionary(items.map { ($0.blobID, $0) }, uniquingKeysWith: { a, _ in a })
        byPath = Dictionary(items.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        for item in items { byName[String(item.path.split(separator: "/").last ?? ""), default: []].append(item) }
    }

    /// The item; `failure` makes the error from what went wrong ("matches no item; …").
    func item(blobID hex: String?, paths: [String], fileName: String, failure: (String) -> any Error) throws -> Item {
        if let hex, let id = BlobID(hex: hex), let found = byBlob[id] { return found }
        for path in paths + [fileName] { if let found = byPath[path] { return found } }
        let name = String(fileName.split(separator: "/").last ?? "")
        let candidates = (byName[name] ?? []).filter { $0.path.hasSuffix("/" + fileName) || fileName.hasSuffix("/" + $0.path) }
        guard candidates.count == 1 else {
            throw failure(candidates.isEmpty ? "matches no item; import the images first (`cairn import`)"
                                             : "matches \(candidates.count) items by name; give the imported path")
        }
        return candidates[0]
    }
}

import CairnCatalog
import CairnStore
import CairnSupport
import Foundation

/// Label Studio's JSON export of an image object-detection project: a list of tasks, each with its
/// image in `data` and annotations whose `result` holds `rectanglelabels` regions — x, y, width and
/// height in percent of the image, `original_width`/`original_height` in pixels.
public struct LabelStudioTasks: Sendable {
    /// One task as Cairn takes it: the image reference and the boxes of its one annotation.
    public struct Task: Sendable {
        public var index: Int
        public var image: String
        public var cairnBlobID: String?
        public var cairnPath: String?
        /// Pixels, checked against the annotation's original size; nil when the task has no
        /// annotation (not labeled yet: nothing recorded for it).
        public var boxes: [Box]?
        public var width: Int?
        public var height: Int?
    }

    public var tasks: [Task]
    public var classes: [String]

    /// Most bytes a file may have.
    public static let maxBytes = 1 << 30

    private struct File: Decodable {
        struct Region: Decodable {
            struct Value: Decodable {
                var x: Double?, y: Double?, width: Double?, height: Double?, rotation: Double?
                var rectanglelabels: [String]?
                var polygonlabels: [String]?
                var points: [[Double]]?
            }
            var type: String
            var original_width: Int?
            var original_height: Int?
            var value: Value
        }
        struct Annotation: Decodable {
            var was_cancelled: Bool?
            var result: [Region]
        }
        struct TaskData: Decodable {
            var image: String?
            var cairn_blob_id: String?
            var cairn_path: String?
        }
        var data: TaskData
        var annotations: [Annotation]?
    }

    /// Parses and checks a Label Studio JSON export: every region a rectangle with one label and no
    /// rotation (a polygon only with `ignoreSegmentation`, which takes its bounding box), percents
    /// within 0…100, one original size per task; at most one annotation per task.
    /// - Throws: the reason, naming the task (by its place in the list) and region.
    public init(_ data: Data, ignoreSegmentation: Bool = false) throws(Refusal) {
        guard data.count <= Self.maxBytes else { throw Refusal("the file is over 1 GiB") }
        let files: [File]
        do {
            files = try JSONDecoder().decode([File].self, from: data)
        } catch {
            throw Refusal("not a Label Studio JSON export (a list of tasks with data.image and annotations): \(Self.reason(error))")
        }
        var tasks: [Task] = []
        var classes: [String] = []
        for (i, file) in files.enumerated() {
            let which = "task \(i + 1)"
            guard let image = file.data.image, !image.isEmpty else { throw Refusal("\(which) has no data.image") }
            var task = Task(index: i + 1, image: image, cairnBlobID: file.data.cairn_blob_id, cairnPath: file.data.cairn_path)
            let annotations = (file.annotations ?? []).filter { $0.was_cancelled != true }
            guard annotations.count <= 1 else {
                throw Refusal("\(which) has \(annotations.count) annotations; Cairn imports one person's boxes at a time "
                              + "(export each annotator's, or keep one annotation per task)")
            }
            if let annotation = annotations.first {
                var boxes: [Box] = []
                for (r, region) in annotation.result.enumerated() {
                    let where_ = "\(which), region \(r + 1)"
                    guard let width = region.original_width, let height = region.original_height, width > 0, height > 0 else {
                        throw Refusal("\(where_) has no original_width and original_height")
                    }
                    if let w = task.width, let h = task.height, (w, h) != (width, height) { throw Refusal("\(where_): the image's size changes") }
                    (task.width, task.height) = (width, height)
                    let v = region.value
                    let label: String
                    var (x, y, w, h): (Double, Double, Double, Double)
                    switch region.type {
                    case "rectanglelabels":
                        guard let names = v.rectanglelabels, names.count == 1 else { throw Refusal("\(where_) needs exactly one label") }
                        guard let vx = v.x, let vy = v.y, let vw = v.width, let vh = v.height else { throw Refusal("\(where_) lacks x, y, width or height") }
                        guard (v.rotation ?? 0) == 0 else {
                            throw Refusal("\(where_) is rotated (\(v.rotation!)°), which Cairn's boxes do not keep")
                        }
                        (label, x, y, w, h) = (names[0], vx, vy, vw, vh)
                    case "polygonlabels":
                        guard ignoreSegmentation else {
                            throw Refusal("\(where_) is a polygon, which Cairn's boxes do not keep; --ignore-segmentation takes its bounding box")
                        }
                        guard let names = v.polygonlabels, names.count == 1, let points = v.points, !points.isEmpty,
                              points.allSatisfy({ $0.count == 2 }) else { throw Refusal("\(where_) needs one label and points [x, y]") }
                        let xs = points.map { $0[0] }, ys = points.map { $0[1] }
                        (label, x, y, w, h) = (names[0], xs.min()!, ys.min()!, xs.max()! - xs.min()!, ys.max()! - ys.min()!)
                    default:
                        throw Refusal("\(where_) is a '\(Printable.escaped(String(region.type.prefix(40))))', not a box (rectanglelabels)")
                    }
                    guard [x, y, w, h].allSatisfy(\.isFinite), w > 0, h > 0, x >= -1e-6, y >= -1e-6, x + w <= 100 + 1e-6, y + h <= 100 + 1e-6 else {
                        throw Refusal("\(where_): the box is not inside the image (percent of it, 0 to 100) or has no size")
                    }
                    do { try LabelClass.validate(name: label) } catch { throw Refusal("\(where_): label '\(Printable.escaped(label))': \(error)") }
                    if !classes.contains(label) { classes.append(label) }
                    let (W, H) = (Double(width), Double(height))
                    let px = min(max(0, x * W / 100), W), py = min(max(0, y * H / 100), H)
                    let box = Box(className: label, x: px, y: py, width: min(w * W / 100, W - px), height: min(h * H / 100, H - py))
                    do { try box.check(imageWidth: width, imageHeight: height) } catch { throw Refusal("\(where_): \(error)") }
                    boxes.append(box)
                }
                task.boxes = boxes
            }
            tasks.append(task)
        }
        self.tasks = tasks
        self.classes = classes
    }

    private static func reason(_ error: any Error) -> String {
        guard let decoding = error as? DecodingError else { return "\(error)" }
        switch decoding {
        case .dataCorrupted(let context), .keyNotFound(_, let context), .typeMismatch(_, let context), .valueNotFound(_, let context):
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined()
            return (path.isEmpty ? "" : path + ": ") + context.debugDescription
        @unknown default: return "\(error)"
        }
    }

    /// Why a file was refused.
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}

extension Versioning {
    /// Imports a Label Studio JSON export's boxes as `annotator`'s box sets: each task's image is
    /// matched to an item (`data.cairn_blob_id` when Cairn wrote the file, else the imported path,
    /// else the one item whose path ends in the image's), its annotation becomes one set (no
    /// regions: no objects), a task without an annotation is left alone. Missing classes are added.
    /// All or nothing.
    /// - Throws: `VersioningError.badAnnotations` naming the file and the task or region.
    public func importBoxes(labelStudioFile path: String, annotator: String, options: BoxImportOptions = BoxImportOptions()) throws
        -> BoxImportReport {
        if catalog.isReadOnly { throw CatalogError.readOnly(location: catalog.location) }
        func bad(_ reason: String) -> VersioningError { .badAnnotations(path: path, reason: reason) }
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else { throw bad("cannot read the file") }
        let file: LabelStudioTasks
        do { file = try LabelStudioTasks(data, ignoreSegmentation: options.ignoreSegmentation) } catch { throw bad(error.description) }
        var report = BoxImportReport(file: path, annotator: annotator)
        report.images = file.tasks.count
        return try repository.withLock(exclusive: false) {
            try catalog.write { tx in
                let matcher = ItemMatcher(try tx.allItems())
                var matched: [(Item, BoxSet)] = []
                var taskOf: [Int64: Int] = [:]
                for task in file.tasks {
                    guard let boxes = task.boxes else { continue }
                    // Label Studio's own paths are upload URLs (/data/upload/3/1a2b-cat.jpg): match by what follows the last slash too.
                    let item = try matcher.item(blobID: task.cairnBlobID, paths: [task.cairnPath].compactMap { $0 },
                                                fileName: task.image.hasPrefix("/data/") || task.image.contains("://")
                                                    ? String(task.image.split(separator: "/").last ?? "") : task.image) {
                        bad("task \(task.index) ('\(Printable.escaped(task.image))') \($0)")
                    }
                    if let other = taskOf.updateValue(task.index, forKey: item.id) {
                        throw bad("tasks \(other) and \(task.index) both name the item at \(Printable.escaped(item.path)); a task is listed once")
                    }
                    if let w = task.width, let h = task.height, (w, h) != (item.width, item.height) {
                        throw bad("task \(task.index): the image is \(w)x\(h) in the file but \(item.width)x\(item.height) in the repository")
                    }
                    matched.append((item, BoxSet(boxes)))
                }
                try recordBoxSets(tx, matched, classNames: file.classes, annotator: annotator, report: &report)
                return report
            }
        }
    }

    /// Writes a snapshot's resolved boxes as a Label Studio JSON export (`tasks.json`, one task per
    /// item whose boxes resolve, `data.image` its file under `images/`, one annotation of
    /// `rectanglelabels` in percent) that Label Studio imports and `boxes import` reads back. Label
    /// Studio has no crowd or occluded flag: crowd boxes are left out and occluded flags dropped,
    /// counted in the report.
    func exportLabelStudio(_ row: SnapshotRecord, items all: [ItemRecord], to target: String, force: Bool, report: inout ExportReport) throws {
        let items = all.filter { $0.boxes?.resolved != nil }
        struct Value: Encodable { var x, y, width, height: Double; var rotation = 0; var rectanglelabels: [String] }
        struct Region: Encodable {
            var id: String; var type = "rectanglelabels"; var from_name = "label"; var to_name = "image"
            var original_width: Int; var original_height: Int; var image_rotation = 0; var value: Value
        }
        struct Annotation: Encodable { var result: [Region] }
        struct TaskData: Encodable { var image: String; var cairn_blob_id: String; var cairn_path: String }
        struct Task: Encodable { var id: Int; var data: TaskData; var annotations: [Annotation] }
        var crowd = 0, occluded = 0, boxes = 0
        let tasks = items.enumerated().map { n, item -> Task in
            let (W, H) = (Double(item.width), Double(item.height))
            var regions: [Region] = []
            for box in item.boxes?.resolved?.boxes ?? [] {
                if box.crowd { crowd += 1; continue }
                if box.occluded { occluded += 1 }
                regions.append(Region(id: "b\(regions.count + 1)", original_width: item.width, original_height: item.height,
                                      value: Value(x: box.x / W * 100, y: box.y / H * 100, width: box.width / W * 100, height: box.height / H * 100,
                                                   rectanglelabels: [box.className])))
            }
            boxes += regions.count
            return Task(id: n + 1, data: TaskData(image: "images/" + fileName(item), cairn_blob_id: item.blobID.hex, cairn_path: item.path),
                        annotations: [Annotation(result: regions)])
        }
        try write(String(decoding: try JSONEncoder.sorted.encode(tasks), as: UTF8.self), to: target + "/tasks.json", force: force)
        report.files.append(target + "/tasks.json")
        report.items = items.count
        (report.boxes, report.crowdLeftOut, report.occludedDropped) = (boxes, crowd, occluded)
    }
}

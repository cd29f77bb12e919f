import CairnCatalog
import CairnStore
import CairnSupport
import Foundation

/// YOLO's label files (ultralytics' format): one object a line, `CLASS CX CY W H`, the class an
/// index into the dataset's names and the box's centre and size as fractions of the image. A line
/// of a class and more than four numbers is a polygon (YOLO's segmentation format).
public enum YOLOLabels {
    /// One object of a label file, in fractions of the image.
    public struct Object: Sendable, Hashable {
        public var classIndex: Int
        public var x: Double, y: Double, width: Double, height: Double
    }

    /// Most objects one label file may hold, and its largest size in bytes.
    public static let maxObjects = 100_000
    public static let maxBytes = 16 << 20

    /// The objects of a label file. A polygon is refused, unless `ignoreSegmentation` (then its
    /// bounding box is taken and the outline dropped).
    /// - Throws: the reason, naming the line: not a class and four numbers, a class outside
    ///   `classCount`, a number that is not finite or a box outside 0…1, no width or height.
    public static func parse(_ text: String, classCount: Int, ignoreSegmentation: Bool = false) throws(Refusal) -> [Object] {
        guard text.utf8.count <= maxBytes else { throw Refusal("it is over \(maxBytes >> 20) MiB") }
        var objects: [Object] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let fields = raw.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if fields.isEmpty { continue }
            let line = "line \(i + 1)"
            guard let classIndex = Int(fields[0]), classIndex >= 0 else {
                throw Refusal("\(line): '\(Printable.escaped(String(fields[0].prefix(40))))' is not a class number")
            }
            guard classIndex < classCount else { throw Refusal("\(line): class \(classIndex), but data.yaml names \(classCount)") }
            let numbers = fields.dropFirst().map { Double($0) }
            guard numbers.allSatisfy({ $0?.isFinite == true }) else { throw Refusal("\(line): a coordinate is not a finite number") }
            let values = numbers.map { $0! }
            var object: Object
            if values.count == 4 {
                object = Object(classIndex: classIndex, x: values[0] - values[2] / 2, y: values[1] - values[3] / 2, width: values[2], height: values[3])
            } else if values.count >= 6, values.count % 2 == 0 {
                guard ignoreSegmentation else {
                    throw Refusal("\(line) is a polygon (segmentation), which Cairn's boxes do not keep; --ignore-segmentation takes its bounding box")
                }
                let xs = stride(from: 0, to: values.count, by: 2).map { values[$0] }, ys = stride(from: 1, to: values.count, by: 2).map { values[$0] }
                object = Object(classIndex: classIndex, x: xs.min()!, y: ys.min()!, width: xs.max()! - xs.min()!, height: ys.max()! - ys.min()!)
            } else {
                throw Refusal("\(line) has \(values.count) numbers after the class; a box has 4 (centre x, centre y, width, height)")
            }
            let slack = 1e-6
            guard object.width > 0, object.height > 0, object.x >= -slack, object.y >= -slack,
                  object.x + object.width <= 1 + slack, object.y + object.height <= 1 + slack else {
                throw Refusal("\(line): the box is not inside the image (coordinates are fractions of it, 0 to 1) or has no size")
            }
            objects.append(object)
            guard objects.count <= maxObjects else { throw Refusal("more than \(maxObjects) objects") }
        }
        return objects
    }

    /// Why a label file was refused.
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}

extension Versioning {
    /// Imports a YOLO dataset's boxes (ultralytics' layout: `images/…` and `labels/…` under `root`,
    /// each image's labels in the file of the same path under `labels/` ending `.txt`) as
    /// `annotator`'s box sets. `names` are data.yaml's class names, in index order; missing classes
    /// are added. Images are matched to items by content (their blob id), so the repository must
    /// have imported them; an image without a label file has no objects, as in ultralytics. All or
    /// nothing: everything is checked before one transaction writes it.
    /// - Throws: `VersioningError.badAnnotations` naming the file and the problem.
    public func importBoxes(yoloRoot root: String, names: [String], annotator: String, options: BoxImportOptions = BoxImportOptions()) throws
        -> BoxImportReport {
        if catalog.isReadOnly { throw CatalogError.readOnly(location: catalog.location) }
        func bad(_ path: String, _ reason: String) -> VersioningError { .badAnnotations(path: path, reason: reason) }
        guard !names.isEmpty else { throw bad(root + "/data.yaml", "names lists no classes") }
        for name in names {
            do { try LabelClass.validate(name: name) } catch { throw bad(root + "/data.yaml", "class name '\(Printable.escaped(name))': \(error)") }
        }
        let imagesRoot = root + "/images", labelsRoot = root + "/labels"
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: imagesRoot, isDirectory: &isDirectory), isDirectory.boolValue else { throw bad(root, "there is no images/ folder (ultralytics' layout: images/ and labels/ beside data.yaml)") }
        let extensions: Set<String> = ["png", "jpg", "jpeg"]
        let images = (FileManager.default.enumerator(atPath: imagesRoot)?.compactMap { $0 as? String } ?? [])
            .filter { extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
        let stems = Set(images.map { ($0 as NSString).deletingPathExtension })
        for label in (FileManager.default.enumerator(atPath: labelsRoot)?.compactMap { $0 as? String } ?? []).filter({ $0.hasSuffix(".txt") })
            where !stems.contains((label as NSString).deletingPathExtension) {
            throw bad(labelsRoot + "/" + label, "no image under images/ has this name")
        }
        var report = BoxImportReport(file: root, annotator: annotator)
        report.images = images.count
        return try repository.withLock(exclusive: false) {
            try catalog.write { tx in
                var matched: [(Item, BoxSet)] = []
                var seen: [Int64: (String, BoxSet)] = [:]
                for relative in images {
                    let imagePath = imagesRoot + "/" + relative
                    guard let bytes = FileManager.default.contents(atPath: imagePath) else { throw bad(imagePath, "cannot read it") }
                    guard let item = try tx.item(blobID: BlobID(hashing: bytes)) else {
                        throw bad(imagePath, "this image is not in the repository; import the images first (`cairn import \(Printable.escaped(imagesRoot))`)")
                    }
                    let labelPath = labelsRoot + "/" + (relative as NSString).deletingPathExtension + ".txt"
                    var boxes: [Box] = []
                    if FileOps.exists(labelPath) {
                        guard let text = try? String(contentsOfFile: labelPath, encoding: .utf8) else { throw bad(labelPath, "not readable UTF-8 text") }
                        let objects: [YOLOLabels.Object]
                        do {
                            objects = try YOLOLabels.parse(text, classCount: names.count, ignoreSegmentation: options.ignoreSegmentation)
                        } catch {
                            throw bad(labelPath, "\(error)")
                        }
                        let (w, h) = (Double(item.width), Double(item.height))
                        for object in objects {
                            // Back to pixels; a hair past the edge from rounding the fractions is the edge.
                            let x = min(max(0, object.x * w), w), y = min(max(0, object.y * h), h)
                            let box = Box(className: names[object.classIndex], x: x, y: y,
                                          width: min(object.width * w, w - x), height: min(object.height * h, h - y))
                            do { try box.check(imageWidth: item.width, imageHeight: item.height) } catch { throw bad(labelPath, "\(error)") }
                            boxes.append(box)
                        }
                    }
                    let set = BoxSet(boxes)
                    if let (other, earlier) = seen[item.id] {
                        guard earlier == set else { throw bad(imagePath, "the same image as \(Printable.escaped(other)) with other labels") }
                        continue
                    }
                    seen[item.id] = (imagePath, set)
                    matched.append((item, set))
                }
                try recordBoxSets(tx, matched, classNames: names, annotator: annotator, report: &report)
                return report
            }
        }
    }
}

import ArgumentParser
import CairnCatalog
import CairnRepository
import CairnVersioning
import CairnWorkflows
import Foundation

struct BoxesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boxes",
        abstract: "Bounding boxes: import them from COCO or YOLO, or set an item's boxes from a script.",
        discussion: """
            An item's boxes are each person's set, appended to its box history like class labels; a \
            reviewer's set wins, else the annotators' set when all agree (Docs/LABELS.md, "Boxes"). \
            `cairn show ITEM` lists them; snapshots keep them; `cairn export --format coco` writes them.
            """,
        subcommands: [Import.self, SetBoxes.self])

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import a COCO detection file's or a YOLO dataset's boxes as one annotator's box sets (all or nothing).",
            discussion: """
                COCO: each image of the file is matched to an imported item: by `cairn_blob_id` (files that \
                `cairn export --format coco` wrote), else by imported path, else by the one item whose \
                path ends in /FILE_NAME. Its annotations become one set (an image without annotations: \
                no objects); missing classes are added. Importing the same file again records nothing new.
                Label Studio (a JSON export of tasks, a list): rectanglelabels regions in percent; one \
                annotation per task; rotated rectangles refused; polygons only with --ignore-segmentation.
                Pascal VOC (a folder of .xml, one per image, or one .xml) and CVAT for images 1.1 (annotations.xml): \
                images matched by file name as COCO's; VOC's truncated, difficult and pose marks are refused \
                unless --drop-flags; CVAT's rotated boxes, attributes and other shapes refused (polygons: \
                --ignore-segmentation).
                YOLO (a folder with data.yaml, or the data.yaml): ultralytics' layout, images/ and labels/ \
                beside data.yaml; each image under images/ is matched to an item by its content (import the \
                images first), its labels/ file of the same name gives its boxes (none: no objects), \
                data.yaml's names give the classes. A polygon line is refused unless --ignore-segmentation.
                Examples:
                  cairn import photos/
                  cairn boxes import instances_train.json --annotator coco
                  cairn boxes import cvat-export.json --ignore-segmentation --clip
                  cairn import yolo-set/images && cairn boxes import yolo-set/
                  cairn boxes import project-7-at-2026-12-01.json --annotator ada      (Label Studio)
                """)

        @OptionGroup var repository: RepositoryOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "A COCO JSON file, a Label Studio JSON export, a YOLO dataset's folder or data.yaml, Pascal VOC .xml files (a folder or one), or a CVAT annotations.xml.")
        var file: String
        @Option(help: "Whose boxes these are (default: import).") var annotator = "import"
        @Flag(help: "Keep the box of an annotation that also has a segmentation, dropping the segmentation.") var ignoreSegmentation = false
        @Flag(help: "Clip boxes that cross the image's edge to the image.") var clip = false
        @Flag(help: "Pascal VOC: import objects marked truncated, difficult or with a pose, dropping the marks.") var dropFlags = false

        /// True when the JSON file's first non-blank character opens a list: Label Studio's tasks (COCO's is an object).
        static func isList(_ path: String) -> Bool {
            guard let handle = FileHandle(forReadingAtPath: path) else { return false }
            defer { try? handle.close() }
            let head = (try? handle.read(upToCount: 4096)) ?? Data()
            return head.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) } == UInt8(ascii: "[")
        }

        func run() throws {
            let repo = try repository.open()
            // `import` is the importer, as for labels from folders; anyone else must be you in a shared repository.
            let annotator = annotator == Annotator.importName ? annotator : try repo.person(annotator, option: "--annotator")
            let versioning = Versioning(repository: repo)
            let options = BoxImportOptions(ignoreSegmentation: ignoreSegmentation, clip: clip, dropFlags: dropFlags)
            let report: BoxImportReport
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory)
            if file.lowercased().hasSuffix(".xml") || (exists && isDirectory.boolValue && !FileManager.default.fileExists(atPath: file + "/data.yaml")) {
                report = try versioning.importBoxes(xml: file, annotator: annotator, options: options)
            } else if file.hasSuffix(".yaml") || file.hasSuffix(".yml") || (exists && isDirectory.boolValue) {
                let root = isDirectory.boolValue ? file : (file as NSString).deletingLastPathComponent
                let dataYAML = isDirectory.boolValue ? file + "/data.yaml" : file
                let names: [String]
                do {
                    names = try YOLODataset.names(dataYAML: dataYAML)
                } catch {
                    throw VersioningError.badAnnotations(path: dataYAML, reason: error.description)
                }
                report = try versioning.importBoxes(yoloRoot: root.isEmpty ? "." : root, names: names, annotator: annotator, options: options)
            } else if Self.isList(file) {
                report = try versioning.importBoxes(labelStudioFile: file, annotator: annotator, options: options)
            } else {
                report = try versioning.importBoxes(cocoFile: file, annotator: annotator, options: options)
            }
            if output.json { return try printJSON(report) }
            say("imported \(report.boxes) boxes on \(report.recorded) of \(report.images) images for \(annotator)"
                + (report.recorded < report.images ? " (\(report.images - report.recorded) unchanged)" : ""))
            if !report.classesAdded.isEmpty { say("added classes: \(report.classesAdded.joined(separator: ", "))") }
            if report.clipped > 0 { say("clipped \(report.clipped) boxes to their images") }
        }
    }

    struct SetBoxes: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Record your set of boxes for one item (replacing your earlier set), or a reviewer's verdict.",
            discussion: """
                A box is CLASS:X,Y,WIDTH,HEIGHT in pixels of the stored image (X, Y the top-left corner), \
                with optional flags after another colon: c (crowd), o (occluded).
                Examples:
                  cairn boxes set 3f2a9c --box cat:10,20,30,40 --box dog:0,0,64,48:o
                  cairn boxes set 3f2a9c --none                  (no objects in this image)
                  cairn boxes set 3f2a9c --box cat:10,20,30,40 --review --annotator grace
                """)

        @OptionGroup var repository: RepositoryOptions
        @Argument(help: "Blob id, id prefix or imported path.") var item: String
        @Option(help: "A box, CLASS:X,Y,W,H[:FLAGS]; repeat for more.") var box: [String] = []
        @Flag(help: "Record that the image has no objects.") var none = false
        @Flag(help: "Record the set as a reviewer's verdict.") var review = false
        @Option(help: "Who is drawing (default: $USER, else your Unix account).") var annotator: String?

        func validate() throws {
            guard box.isEmpty != !none else { throw ValidationError("give --box (repeatable) or --none") }
            for text in box { _ = try Self.parse(text) }
        }

        static func parse(_ text: String) throws -> Box {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            let numbers = parts.count >= 2 ? parts[1].split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) } : []
            let flags = parts.count == 3 ? parts[2] : ""
            guard (2...3).contains(parts.count), !parts[0].isEmpty, numbers.count == 4, flags.allSatisfy({ "co".contains($0) }) else {
                throw ValidationError("'\(text)' is not a box: want CLASS:X,Y,WIDTH,HEIGHT[:FLAGS], e.g. cat:10,20,30,40 or cat:10,20,30,40:co")
            }
            return Box(className: parts[0], x: numbers[0], y: numbers[1], width: numbers[2], height: numbers[3],
                       crowd: flags.contains("c"), occluded: flags.contains("o"))
        }

        func run() throws {
            let repo = try repository.open()
            let person = try repo.person(annotator, option: "--annotator")
            let set = BoxSet(try box.map(Self.parse))
            try repo.setBoxes(item, boxes: set, person: person, verdict: review)
            say("\(review ? "decided" : "recorded") \(set.count) box(es) on \(item) for \(person)")
        }
    }
}

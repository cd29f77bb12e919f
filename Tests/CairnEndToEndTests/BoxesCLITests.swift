import CairnTestSupport
import Foundation
import Testing

/// Bounding boxes through the real binary: a COCO file imported, snapshotted and exported reads the
/// same in pycocotools (same annotations, same COCOeval numbers); bad files are refused whole;
/// box sets from a script resolve as the policy says and show in `show`, `status` and `log`.
@Suite(.serialized) struct BoxesCLITests {
    private static let script = Fixtures.packageRoot + "/Tests/Python/coco_boxes.py"

    /// A repository holding the images of a generated COCO set (`coco_boxes.py make`), and that set's file.
    private func cocoRepository(_ dir: TemporaryDirectory) throws -> (repo: String, coco: String) {
        let source = dir.appending("src")
        let made = CLI.shell("python3 '\(Self.script)' make '\(source)'")
        try #require(made.status == 0, "\(made.output)")
        let repo = dir.appending("repo")
        #expect(try CLI.run(["init", repo]).status == 0)
        #expect(try CLI.run(["import", source + "/imgs"], in: repo).status == 0)
        return (repo, source + "/instances.json")
    }

    @Test func aCOCOFileRoundTripsThroughASnapshotForPycocotools() throws {
        let dir = try TemporaryDirectory("cairn-e2e-boxes-coco")
        defer { dir.remove() }
        let (repo, coco) = try cocoRepository(dir)
        let imported = try CLI.run(["boxes", "import", coco, "--json"], in: repo)
        #expect(imported.status == 0, "\(imported)")
        let report = try JSONSerialization.jsonObject(with: imported.stdoutData) as? [String: Any]
        #expect(report?["images"] as? Int == 40 && report?["recorded"] as? Int == 40, "\(imported.stdout)")
        #expect(report?["classesAdded"] as? [String] == ["bird", "cat", "dog"])
        // The same file again records nothing.
        let again = try CLI.run(["boxes", "import", coco], in: repo)
        #expect(again.status == 0 && again.stdout.contains("0 of 40 images") && again.stdout.contains("40 unchanged"), "\(again)")
        let snapshot = try CLI.run(["snapshot", "-m", "boxes"], in: repo)
        #expect(snapshot.status == 0 && snapshot.stdout.contains("boxes: 123"), "\(snapshot)")
        #expect(try CLI.run(["export", "HEAD", "--format", "coco", dir.appending("out")], in: repo).status == 0)
        let check = CLI.shell("python3 '\(Self.script)' compare '\(coco)' '\(dir.appending("out"))'")
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("\"annotations\": 123"), "\(check.output)")
        let checked = CLI.shell("python3 '\(Fixtures.packageRoot)/Tests/Python/check_coco.py' '\(dir.appending("out"))'")
        #expect(checked.status == 0 && checked.output.contains("\"mAP\": 1.0"), "\(checked.output)")
        // The same snapshot as YOLO: the same boxes but the crowd ones, which YOLO cannot hold (and says so).
        let yolo = try CLI.run(["export", "HEAD", "--format", "yolo", dir.appending("yolo"), "--json"], in: repo)
        #expect(yolo.status == 0, "\(yolo)")
        let yoloReport = try JSONSerialization.jsonObject(with: yolo.stdoutData) as? [String: Any]
        let crowd = yoloReport?["crowdLeftOut"] as? Int ?? -1
        #expect(crowd > 0 && yoloReport?["boxes"] as? Int == 123 - crowd, "\(yolo.stdout)")
        let yoloCheck = CLI.shell("python3 '\(Fixtures.packageRoot)/Tests/Python/check_yolo.py' '\(dir.appending("yolo"))' '\(dir.appending("out"))'")
        #expect(yoloCheck.status == 0 && yoloCheck.output.contains("\"images\": 40"), "\(yoloCheck.output)")
        // `cairn checkout --layout yolo` is the YOLO export: the same checker reads it.
        #expect(try CLI.run(["checkout", "HEAD", dir.appending("checked-yolo"), "--layout", "yolo"], in: repo).status == 0)
        let checkedOut = CLI.shell("python3 '\(Fixtures.packageRoot)/Tests/Python/check_yolo.py' '\(dir.appending("checked-yolo"))' '\(dir.appending("out"))'")
        #expect(checkedOut.status == 0 && checkedOut.output.contains("\"images\": 40"), "\(checkedOut.output)")
        // `cairn run --materialize yolo|coco` lays the snapshot out for a detector's training program:
        // ultralytics' layout with data.yaml naming where it ended up, and COCO files pycocotools loads.
        let checkYOLO = "\(Fixtures.packageRoot)/Tests/Python/check_yolo.py"
        let yoloRun = try CLI.run(["run", "--data", "HEAD", "--materialize", "yolo", "--", "sh", "-c",
                                   "python3 '\(checkYOLO)' \"$CAIRN_DATA\" '\(dir.appending("out"))' && test \"$CAIRN_MANIFEST\" = \"$CAIRN_DATA/data.yaml\""], in: repo)
        #expect(yoloRun.status == 0 && yoloRun.stdout.contains("\"images\": 40"), "\(yoloRun)")
        let cocoRun = try CLI.run(["run", "--data", "HEAD", "--materialize", "coco", "--", "python3", "-c",
                                   "import os; from pycocotools.coco import COCO; c = COCO(os.environ['CAIRN_MANIFEST']); "
                                   + "assert os.path.exists(os.path.join(os.environ['CAIRN_DATA'], 'images')); print('anns', len(c.anns))"], in: repo)
        #expect(cocoRun.status == 0 && cocoRun.stdout.contains("anns "), "\(cocoRun)")
        // WebDataset samples carry their boxes: every image whose boxes resolve, read by the webdataset package.
        #expect(try CLI.run(["export", "HEAD", "--format", "webdataset", dir.appending("shards")], in: repo).status == 0)
        let shards = CLI.shell("python3 '\(Fixtures.packageRoot)/Tests/Python/check_webdataset.py' '\(dir.appending("shards"))'")
        #expect(shards.status == 0 && shards.output.contains("\"samples\": 40") && shards.output.contains("\"boxes\": 123"), "\(shards.output)")
        let plain = try CLI.run(["export", "HEAD", "--format", "yolo", dir.appending("yolo2")], in: repo)
        #expect(plain.status == 0 && plain.stderr.contains("crowd boxes left out"), "\(plain)")
    }

    /// Each kind of bad file is refused with the file and the culprit named, and nothing is recorded.
    @Test func badCOCOFilesAreRefusedWholeWithTheCulpritNamed() throws {
        let dir = try TemporaryDirectory("cairn-e2e-boxes-bad")
        defer { dir.remove() }
        let (repo, coco) = try cocoRepository(dir)
        let original = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: coco))) as! [String: Any]
        func variant(_ name: String, _ change: (inout [String: Any]) -> Void) throws -> String {
            var document = original
            change(&document)
            let path = dir.appending(name + ".json")
            try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: path))
            return path
        }
        func editAnnotation(_ document: inout [String: Any], _ edit: (inout [String: Any]) -> Void) {
            var annotations = document["annotations"] as! [[String: Any]]
            edit(&annotations[annotations.count - 1])
            document["annotations"] = annotations
        }
        let lastID = ((original["annotations"] as! [[String: Any]]).last!["id"] as! Int)
        let outside = try variant("outside") { d in editAnnotation(&d) { $0["bbox"] = [10, 10, 5000, 5] } }
        let polygon = try variant("polygon") { d in editAnnotation(&d) { $0["segmentation"] = [[1, 1, 9, 1, 5, 7]] } }
        let noImage = try variant("no-image") { d in editAnnotation(&d) { $0["image_id"] = 424242 } }
        let noBBox = try variant("no-bbox") { d in editAnnotation(&d) { $0["bbox"] = nil } }
        var unknownFile = original
        var images = unknownFile["images"] as! [[String: Any]]
        images[0]["file_name"] = "elsewhere/\u{1b}[31mred.png"
        unknownFile["images"] = images
        let unknown = dir.appending("unknown.json")
        try JSONSerialization.data(withJSONObject: unknownFile).write(to: URL(fileURLWithPath: unknown))
        try Data("{\"images\": [".utf8).write(to: URL(fileURLWithPath: dir.appending("truncated.json")))
        var twice = original
        var listed = twice["images"] as! [[String: Any]]
        var copy = listed[1]
        copy["id"] = 999_999
        listed.append(copy)
        twice["images"] = listed
        let duplicate = dir.appending("twice.json")
        try JSONSerialization.data(withJSONObject: twice).write(to: URL(fileURLWithPath: duplicate))
        let cases: [(String, [String])] = [
            (outside, ["annotation \(lastID)", "not inside", "--clip"]),
            (polygon, ["annotation \(lastID)", "segmentation", "--ignore-segmentation"]),
            (noImage, ["annotation \(lastID)", "image 424242"]),
            (noBBox, ["annotation \(lastID) has no bbox", "byte "]),
            (unknown, ["matches no item", "\\e[31mred.png"]),
            (dir.appending("truncated.json"), ["byte 12: expected"]),
            (duplicate, ["999999 both name the item", "listed once"]),
            (dir.appending("absent.json"), ["cannot read"]),
        ]
        for (file, expected) in cases {
            let result = try CLI.run(["boxes", "import", file], in: repo)
            #expect(result.status == 1, "\(file): \(result)")
            #expect(result.stderr.contains(file) && result.stderr.contains("nothing was imported"), "\(result)")
            for text in expected { #expect(result.stderr.contains(text), "\(file) wants \(text): \(result)") }
            #expect(!result.stderr.contains("\u{1b}"), "escape sequences reach the terminal: \(result)")
        }
        let status = try CLI.run(["status"], in: repo)
        #expect(!status.stdout.contains("boxes:"), "a refused file recorded boxes: \(status)")
        // Told what to drop, the same files import.
        #expect(try CLI.run(["boxes", "import", polygon, "--ignore-segmentation"], in: repo).status == 0)
        let clipped = try CLI.run(["boxes", "import", outside, "--clip", "--annotator", "clipper"], in: repo)
        #expect(clipped.status == 0 && clipped.stdout.contains("clipped 1 boxes"), "\(clipped)")
    }

    /// Sets from `boxes set`: two annotators agreeing resolve, differing wait for a reviewer, whose
    /// verdict wins; show lists boxes and history; a box outside the image is refused.
    @Test func boxSetsResolveAsThePolicySays() throws {
        let dir = try TemporaryDirectory("cairn-e2e-boxes-set")
        defer { dir.remove() }
        let repo = try CLI.makeRepository(at: dir.appending("repo"), images: 4, classes: ["cat", "dog"])
        let item = try #require(try CLI.run(["ls"], in: repo).stdout.split(separator: "\n").first?.split(separator: " ").first.map(String.init))
        #expect(try CLI.run(["boxes", "set", item, "--box", "cat:1,1,3,3", "--box", "dog:0,0,8,8:c", "--annotator", "ada"], in: repo).status == 0)
        #expect(try CLI.run(["boxes", "set", item, "--box", "dog:0,0,8,8:c", "--box", "cat:1,1,3,3", "--annotator", "bob"], in: repo).status == 0)
        var show = try CLI.run(["show", item], in: repo)
        #expect(show.stdout.contains("boxes   2") && show.stdout.contains("cat [1, 1, 3, 3]") && show.stdout.contains("dog [0, 0, 8, 8] crowd"),
                "\(show)")
        let agreed = try CLI.run(["agreement"], in: repo)
        #expect(agreed.status == 0 && agreed.stdout.contains("boxes: F1 1.000") && agreed.stdout.contains("mean IoU 1.000"), "\(agreed)")
        #expect(try CLI.run(["boxes", "set", item, "--none", "--annotator", "bob"], in: repo).status == 0)
        show = try CLI.run(["show", item], in: repo)
        #expect(show.stdout.contains("unresolved: ada drew 2, bob drew 0"), "\(show)")
        let outside = try CLI.run(["boxes", "set", item, "--box", "cat:5,5,4,4", "--annotator", "ada"], in: repo)
        #expect(outside.status == 1 && outside.stderr.contains("not inside the 8x8 image"), "\(outside)")
        let notReviewer = try CLI.run(["boxes", "set", item, "--box", "cat:1,1,3,3", "--review", "--annotator", "ada"], in: repo)
        #expect(notReviewer.status == 1 && notReviewer.stderr.contains("role"), "\(notReviewer)")
        #expect(try CLI.run(["annotators", "add", "grace", "--role", "reviewer"], in: repo).status == 0)
        #expect(try CLI.run(["boxes", "set", item, "--box", "cat:1,1,3.5,3:o", "--review", "--annotator", "grace"], in: repo).status == 0)
        show = try CLI.run(["show", item], in: repo)
        #expect(show.stdout.contains("boxes   1 (verdict by grace)") && show.stdout.contains("cat [1, 1, 3.5, 3] occluded"), "\(show)")
        #expect(show.stdout.contains("box history") && show.stdout.contains("box verdicts"), "\(show)")
        let snapshot = try CLI.run(["snapshot", "-m", "boxes"], in: repo)
        #expect(snapshot.stdout.contains("boxes: 1 (cat 1)"), "\(snapshot)")
        #expect(try CLI.run(["log"], in: repo).stdout.contains("boxes: 1 (cat 1)"))
        // diff pairs boxes by overlap: moved, relabeled, added.
        #expect(try CLI.run(["boxes", "set", item, "--box", "cat:1,1,3.5,2.5:o", "--box", "dog:4,4,4,4", "--review", "--annotator", "grace"],
                            in: repo).status == 0)
        #expect(try CLI.run(["snapshot", "-m", "moved"], in: repo).status == 0)
        let diff = try CLI.run(["diff", "HEAD~1", "HEAD"], in: repo)
        #expect(diff.stdout.contains("moved cat [1, 1, 3.5, 3] occluded -> cat [1, 1, 3.5, 2.5] occluded") && diff.stdout.contains("+dog [4, 4, 4, 4]")
                && diff.stdout.contains("1 items' boxes changed (dog +1)"), "\(diff)")
        let json = try JSONSerialization.jsonObject(with: try CLI.run(["show", item, "--json"], in: repo).stdoutData) as? [String: Any]
        let boxes = json?["boxes"] as? [String: Any]
        #expect((boxes?["resolved"] as? [[String: Any]])?.first?["width"] as? Double == 3.5, "\(String(describing: json))")
        // Box sets travel: pushed to a remote and cloned, the item shows the same boxes and history.
        try FileManager.default.createDirectory(atPath: dir.appending("remote"), withIntermediateDirectories: true)
        #expect(try CLI.run(["remote", "add", "origin", "file://" + dir.appending("remote")], in: repo).status == 0)
        #expect(try CLI.run(["push"], in: repo).status == 0)
        let clone = dir.appending("clone")
        let cloned = try CLI.run(["clone", "file://" + dir.appending("remote"), clone])
        #expect(cloned.status == 0, "\(cloned)")
        let there = try CLI.run(["show", item], in: clone)
        #expect(there.stdout.contains("boxes   2 (verdict by grace)") && there.stdout.contains("dog [4, 4, 4, 4]")
                && there.stdout.contains("box history"), "\(there)")
        // Merging a class relabels its boxes, as a box verdict.
        let merged = try CLI.run(["classes", "merge", "cat", "dog", "--reviewer", "grace"], in: repo)
        #expect(merged.status == 0, "\(merged)")
        show = try CLI.run(["show", item], in: repo)
        #expect(show.stdout.contains("dog [1, 1, 3.5, 2.5] occluded") && !show.stdout.contains("  cat ["), "\(show)")
    }

    /// A YOLO export read back by `boxes import` into another repository gives the same boxes (but
    /// crowd boxes, which YOLO cannot hold); a second import records nothing; bad label files,
    /// Every item's resolved non-crowd boxes, by blob id, from an items.jsonl export of a new snapshot.
    private func resolvedBoxes(_ repository: String, _ dir: TemporaryDirectory) throws -> [String: [[String: Any]]] {
        let out = dir.appending("jsonl-\(UUID().uuidString)")
        #expect(try CLI.run(["snapshot", "-m", "s"], in: repository).status == 0)
        #expect(try CLI.run(["export", "HEAD", "--format", "jsonl", out], in: repository).status == 0)
        var byBlob: [String: [[String: Any]]] = [:]
        for line in try String(contentsOfFile: out + "/items.jsonl", encoding: .utf8).split(separator: "\n").dropFirst() {
            let item = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let resolved = ((item["boxes"] as? [String: Any])?["resolved"] as? [[String: Any]]) ?? []
            byBlob[item["blob_id"] as! String] = resolved.filter { $0["crowd"] as? Bool != true }
        }
        return byBlob
    }

    /// The two repositories resolve the same non-crowd boxes on the same images, to 1e-6 pixels.
    private func expectSameBoxes(_ first: String, _ second: String, _ dir: TemporaryDirectory) throws {
        let original = try resolvedBoxes(first, dir).filter { !$0.value.isEmpty }, readBack = try resolvedBoxes(second, dir).filter { !$0.value.isEmpty }
        #expect(Set(original.keys) == Set(readBack.keys) && original.count > 20, "\(original.count) vs \(readBack.count)")
        for (blob, expected) in original {
            let got = readBack[blob] ?? []
            #expect(got.count == expected.count, "\(blob)")
            for (a, b) in zip(expected, got) {
                #expect(a["className"] as? String == b["className"] as? String)
                for key in ["x", "y", "width", "height"] {
                    #expect(abs((a[key] as? Double ?? -1) - (b[key] as? Double ?? -2)) < 1e-6, "\(blob) \(key): \(a) vs \(b)")
                }
            }
        }
    }

    /// polygons, images not imported and YAML aliases are refused whole.
    @Test func aYOLODatasetImportsBackToTheSameBoxes() throws {
        let dir = try TemporaryDirectory("cairn-e2e-boxes-yolo")
        defer { dir.remove() }
        let (repo, coco) = try cocoRepository(dir)
        #expect(try CLI.run(["boxes", "import", coco], in: repo).status == 0)
        #expect(try CLI.run(["snapshot", "-m", "boxes"], in: repo).status == 0)
        let yolo = dir.appending("yolo")
        #expect(try CLI.run(["export", "HEAD", "--format", "yolo", yolo], in: repo).status == 0)
        let other = dir.appending("other")
        #expect(try CLI.run(["init", other]).status == 0)
        #expect(try CLI.run(["import", yolo + "/images"], in: other).status == 0)
        let imported = try CLI.run(["boxes", "import", yolo, "--json"], in: other)
        #expect(imported.status == 0, "\(imported)")
        let report = try JSONSerialization.jsonObject(with: imported.stdoutData) as? [String: Any]
        #expect(report?["images"] as? Int == 40 && report?["recorded"] as? Int == 40, "\(imported.stdout)")
        let again = try JSONSerialization.jsonObject(with: try CLI.run(["boxes", "import", yolo + "/data.yaml", "--json"], in: other).stdoutData) as? [String: Any]
        #expect(again?["recorded"] as? Int == 0, "importing twice records nothing: \(String(describing: again))")

        try expectSameBoxes(repo, other, dir)

        // Refused whole, naming the file and line; nothing recorded.
        let labels = try #require(FileManager.default.enumerator(atPath: yolo + "/labels")?.compactMap { $0 as? String }.filter { $0.hasSuffix(".txt") }.first)
        let labelPath = yolo + "/labels/" + labels
        let kept = try String(contentsOfFile: labelPath, encoding: .utf8)
        let cases: [(String, String, [String])] = [
            (kept + "9 0.5 0.5 0.1 0.1\n", "class 9, but data.yaml names 3", []),
            (kept + "0 0.1 0.1 0.2 0.1 0.2 0.3 0.1 0.3\n", "is a polygon", []),
            (kept + "0 0.5 0.5 0.1\n", "has 3 numbers after the class", []),
            (kept + "0 0.95 0.5 0.2 0.1\n", "not inside the image", []),
        ]
        for (text, message, _) in cases {
            try Data(text.utf8).write(to: URL(fileURLWithPath: labelPath))
            let result = try CLI.run(["boxes", "import", yolo, "--annotator", "bob"], in: other)
            #expect(result.status != 0 && result.stderr.contains(labels) && result.stderr.contains(message), "\(message): \(result)")
        }
        try Data((kept + "0 0.1 0.1 0.2 0.1 0.2 0.3 0.1 0.3\n").utf8).write(to: URL(fileURLWithPath: labelPath))
        #expect(try CLI.run(["boxes", "import", yolo, "--annotator", "carol", "--ignore-segmentation"], in: other).status == 0)
        let show = try CLI.run(["show", String((labels as NSString).lastPathComponent.prefix(12)), "--json"], in: other).jsonObject()
        let people = ((show["boxes"] as? [String: Any])?["annotations"] as? [[String: Any]])?.compactMap { $0["person"] as? String }
        #expect(people?.contains("carol") == true && people?.contains("bob") == false, "\(String(describing: people))")
        try Data(kept.utf8).write(to: URL(fileURLWithPath: labelPath))
        let fresh = dir.appending("fresh")
        #expect(try CLI.run(["init", fresh]).status == 0)
        let notImported = try CLI.run(["boxes", "import", yolo], in: fresh)
        #expect(notImported.status != 0 && notImported.stderr.contains("not in the repository; import the images first"), "\(notImported)")
        try Data("a: &a [x, x]\nnames: *a\n".utf8).write(to: URL(fileURLWithPath: yolo + "/data.yaml"))
        let alias = try CLI.run(["boxes", "import", yolo], in: other)
        #expect(alias.status != 0 && alias.stderr.contains("anchors and aliases"), "\(alias)")
        // Without its data.yaml the folder is read as Pascal VOC; the error says what each needs.
        try FileManager.default.removeItem(atPath: yolo + "/data.yaml")
        let noYAML = try CLI.run(["boxes", "import", yolo], in: other)
        #expect(noYAML.status != 0 && noYAML.stderr.contains("no .xml files") && noYAML.stderr.contains("data.yaml beside images/ and labels/"),
                "\(noYAML)")
    }

    /// A Label Studio export read back by `boxes import` gives the same boxes (but crowd boxes); what
    /// Cairn's boxes cannot hold — rotated rectangles, polygons, other region types, several
    /// annotations of one task — is refused whole, naming the task and region.
    @Test func aLabelStudioExportImportsBackToTheSameBoxes() throws {
        let dir = try TemporaryDirectory("cairn-e2e-boxes-labelstudio")
        defer { dir.remove() }
        let (repo, coco) = try cocoRepository(dir)
        #expect(try CLI.run(["boxes", "import", coco], in: repo).status == 0)
        #expect(try CLI.run(["snapshot", "-m", "boxes"], in: repo).status == 0)
        let out = dir.appending("ls")
        let exported = try CLI.run(["export", "HEAD", "--format", "labelstudio", out], in: repo)
        #expect(exported.status == 0 && exported.stderr.contains("Label Studio has no crowd or occluded flag"), "\(exported)")
        let other = dir.appending("other")
        #expect(try CLI.run(["init", other]).status == 0)
        #expect(try CLI.run(["import", out + "/images"], in: other).status == 0)
        let imported = try CLI.run(["boxes", "import", out + "/tasks.json", "--json"], in: other)
        #expect(imported.status == 0, "\(imported)")
        try expectSameBoxes(repo, other, dir)

        let tasks = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/tasks.json"))) as? [[String: Any]])
        let withRegion = try #require(tasks.first { (($0["annotations"] as? [[String: Any]])?.first?["result"] as? [Any])?.isEmpty == false })
        func variant(_ change: (inout [String: Any]) -> Void) throws -> String {
            var task = withRegion
            change(&task)
            let path = dir.appending("variant-\(UUID().uuidString).json")
            try JSONSerialization.data(withJSONObject: [task]).write(to: URL(fileURLWithPath: path))
            return path
        }
        func region(_ change: @escaping (inout [String: Any]) -> Void) -> (inout [String: Any]) -> Void {
            { task in
                var annotations = task["annotations"] as! [[String: Any]]
                var result = annotations[0]["result"] as! [[String: Any]]
                change(&result[0])
                annotations[0]["result"] = result
                task["annotations"] = annotations
            }
        }
        let cases: [(String, String)] = [
            (try variant(region { r in var v = r["value"] as! [String: Any]; v["rotation"] = 30; r["value"] = v }), "is rotated"),
            (try variant(region { r in r["type"] = "polygonlabels" }), "is a polygon"),
            (try variant(region { r in r["type"] = "keypointlabels" }), "not a box"),
            (try variant { t in t["annotations"] = (t["annotations"] as! [Any]) + (t["annotations"] as! [Any]) }, "has 2 annotations"),
            (try variant(region { r in var v = r["value"] as! [String: Any]; v["x"] = 95.0; v["width"] = 10.0; r["value"] = v }), "not inside the image"),
        ]
        for (path, message) in cases {
            let result = try CLI.run(["boxes", "import", path, "--annotator", "bob"], in: other)
            #expect(result.status != 0 && result.stderr.contains("task 1") && result.stderr.contains(message), "\(message): \(result)")
        }
        let status = try CLI.run(["show", (withRegion["data"] as! [String: Any])["cairn_blob_id"] as! String, "--json"], in: other).jsonObject()
        let people = ((status["boxes"] as? [String: Any])?["annotations"] as? [[String: Any]])?.compactMap { $0["person"] as? String }
        #expect(people == ["import"], "nothing recorded for bob: \(String(describing: people))")
    }

    /// Pascal VOC and CVAT for images 1.1, out and back: the same boxes (but crowd boxes), occluded
    /// flags kept; what the formats hold that Cairn's boxes do not is refused unless asked, and a
    /// DTD (entities) is refused before parsing.
    @Test func pascalVOCAndCVATImportBackToTheSameBoxes() throws {
        let dir = try TemporaryDirectory("cairn-e2e-boxes-xml")
        defer { dir.remove() }
        let (repo, coco) = try cocoRepository(dir)
        #expect(try CLI.run(["boxes", "import", coco], in: repo).status == 0)
        #expect(try CLI.run(["snapshot", "-m", "boxes"], in: repo).status == 0)
        for format in ["voc", "cvat"] {
            let out = dir.appending(format)
            let exported = try CLI.run(["export", "HEAD", "--format", format, out], in: repo)
            #expect(exported.status == 0 && exported.stderr.contains("crowd boxes left out"), "\(exported)")
            let other = dir.appending("other-" + format)
            #expect(try CLI.run(["init", other]).status == 0)
            #expect(try CLI.run(["import", out + "/images"], in: other).status == 0)
            let imported = try CLI.run(["boxes", "import", format == "voc" ? out + "/Annotations" : out + "/annotations.xml", "--json"], in: other)
            #expect(imported.status == 0, "\(format): \(imported)")
            try expectSameBoxes(repo, other, dir)
        }
        let voc = dir.appending("voc/Annotations")
        let file = try #require(FileManager.default.contentsOfDirectory(atPath: voc).sorted().first { name in
            (try? String(contentsOfFile: voc + "/" + name, encoding: .utf8))?.contains("<object>") == true
        })
        let text = try String(contentsOfFile: voc + "/" + file, encoding: .utf8)
        let other = dir.appending("other-voc")
        let cases: [(String, String, [String])] = [
            (text.replacingOccurrences(of: "<difficult>0</difficult>", with: "<difficult>1</difficult>"), "marked difficult", []),
            ("<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x \"y\">]>" + text, "declares a DTD", []),
            (text.replacingOccurrences(of: "<xmin>", with: "<xmin>-50"), "not inside", []),
            (String(text.dropLast(20)), "not well-formed", []),
        ]
        for (bad, message, _) in cases {
            let path = dir.appending("bad-\(UUID().uuidString).xml")
            try Data(bad.utf8).write(to: URL(fileURLWithPath: path))
            let result = try CLI.run(["boxes", "import", path, "--annotator", "bob"], in: other)
            #expect(result.status != 0 && result.stderr.contains(message), "\(message): \(result)")
        }
        let difficult = dir.appending("difficult.xml")
        try Data(text.replacingOccurrences(of: "<difficult>0</difficult>", with: "<difficult>1</difficult>").utf8).write(to: URL(fileURLWithPath: difficult))
        #expect(try CLI.run(["boxes", "import", difficult, "--annotator", "bob", "--drop-flags"], in: other).status == 0)
        let cvat = try String(contentsOfFile: dir.appending("cvat/annotations.xml"), encoding: .utf8)
        for (bad, message) in [(cvat.replacingOccurrences(of: "z_order=\"0\"/>", with: "z_order=\"0\" rotation=\"15\"/>"), "is rotated"),
                               (cvat.replacingOccurrences(of: "<box ", with: "<polygon points=\"1,1;5,1;5,5\" "), "is a polygon")] {
            let path = dir.appending("bad-\(UUID().uuidString).xml")
            try Data(bad.utf8).write(to: URL(fileURLWithPath: path))
            let result = try CLI.run(["boxes", "import", path, "--annotator", "carol"], in: dir.appending("other-cvat"))
            #expect(result.status != 0 && result.stderr.contains(message), "\(message): \(result)")
        }
    }
}

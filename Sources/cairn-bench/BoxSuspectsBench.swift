import ArgumentParser
import CairnCatalog
import CairnQuality
import CairnTraining
import Foundation

/// `suspects --boxes`'s rule (`BoxSuspects`) on a generated detection set whose corrupted labels are
/// known (`peers/box_suspects.py make`: 5% of boxes corrupted in each of four ways, a simulated
/// detector's predictions), image by image as cleanlab's object-detection issues are judged, with
/// cleanlab's `find_label_issues` / `get_label_quality_scores` on the same file in the same run.
struct BoxSuspectsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "box-suspects",
        abstract: "Precision in the top 200 and recall of box label suspects, beside cleanlab's object detection.",
        discussion: "Needs python3; the peer needs cleanlab. Example: cairn-bench box-suspects --images 3000 --seed 1")

    @Option(help: "Images in the generated set.") var images = 3000
    @Option(help: "Seed of the set.") var seed = 1
    @Option(help: "Where to write the set.") var work: String = "/tmp/cairn-bench"
    @Flag(help: "Leave cleanlab out.") var noPeer = false

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("peers/box_suspects.py").path

    struct Set: Decodable {
        struct Image: Decodable { var labels: [[Double]]; var predictions: [[Double]]; var corrupted: [String] }
        var classes: [String]
        var images: [Image]
    }

    func run() throws {
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let file = work + "/box-suspects-\(images)-\(seed).json"
        try python(["make", file, "--images", String(images), "--seed", String(seed)])
        let set = try JSONDecoder().decode(Set.self, from: Data(contentsOf: URL(fileURLWithPath: file)))
        let start = DispatchTime.now().uptimeNanoseconds
        let inputs = set.images.map { image in
            DetectionEvaluation.Image(
                truth: image.labels.map { Box(className: set.classes[Int($0[0])], x: $0[1], y: $0[2], width: $0[3], height: $0[4]) },
                detections: image.predictions.map {
                    BoxPrediction(className: set.classes[Int($0[0])], x: $0[1], y: $0[2], width: $0[3], height: $0[4], score: $0[5])
                })
        }
        let suspects = BoxSuspects(images: inputs, classes: set.classes)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let corrupted = set.images.map { !$0.corrupted.isEmpty }
        let top = suspects.ranking.prefix(200)
        let flagged = Swift.Set(suspects.ranking.map(\.image))
        let hits = flagged.filter { corrupted[$0] }.count
        let total = corrupted.filter { $0 }.count
        emit(["bench": "box_suspects_cairn", "images": set.images.count, "corrupted_images": total,
              "precision_top200": format(Double(top.filter { corrupted[$0.image] }.count) / Double(max(1, top.count)), 3),
              "flagged": flagged.count, "precision_flagged": format(Double(hits) / Double(max(1, flagged.count)), 3),
              "recall": format(Double(hits) / Double(max(1, total)), 3), "seconds": format(seconds, 2)])
        // Which kinds the flags caught, image by image: an image with a corruption of a kind, flagged with that kind.
        for kind in BoxSuspects.Kind.allCases {
            let with = set.images.indices.filter { set.images[$0].corrupted.contains(kind.rawValue) }
            let caught = with.filter { i in suspects.flags.contains { $0.image == i && $0.kind == kind } }
            let raised = suspects.flags.filter { $0.kind == kind }
            emit(["bench": "box_suspects_cairn_kind", "kind": kind.rawValue.replacingOccurrences(of: " ", with: "_"), "images_with": with.count,
                  "caught": caught.count, "flags": raised.count,
                  "flags_on_corrupted_images": format(Double(raised.filter { corrupted[$0.image] }.count) / Double(max(1, raised.count)), 3)])
        }
        if !noPeer { print(try python(["cleanlab", file]).split(separator: "\n").filter { $0.hasPrefix("bench=") }.joined(separator: "\n")) }
    }

    @discardableResult
    private func python(_ arguments: [String]) throws -> String { try pythonScript(Self.script, arguments) }
}

import CairnCatalog
import CairnImaging
import CairnInference
import CairnModels
import CairnRepository
import CairnStore
import CairnTraining
import CairnVersioning
import Foundation

/// The fuzzed entry points, shared by the `cairn-fuzz` libFuzzer binary and the regression test
/// that replays the corpus in ordinary builds. Each must return normally (or throw a Swift
/// error) for any input; a crash, a trap or a sanitizer report is a bug.
public enum FuzzTargets {
    public static let names = ["png", "jpeg", "labels-csv", "jsonl", "tree", "pack-index", "pack", "checkpoint", "bundle", "tags",
                               "remote-meta", "config", "infer-request", "sweep-spec", "npy", "coco", "yolo", "labelstudio", "voc", "cvat"]

    /// Runs target `name` on `data`.
    public static func run(_ name: String, _ data: Data) {
        switch name {
        case "png":
            let signature = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
            let input = data.starts(with: signature) ? data : signature + data
            _ = try? ImageCodec.probe(input)
            _ = try? ImageCodec.decode(input, limits: DecodeLimits(maxPixels: 1 << 22))
        case "jpeg":
            let input = data.starts(with: [0xFF, 0xD8, 0xFF]) ? data : Data([0xFF, 0xD8, 0xFF]) + data
            _ = try? ImageCodec.probe(input)
            _ = try? ImageCodec.decode(input, limits: DecodeLimits(maxPixels: 1 << 22))
        case "labels-csv":
            _ = try? LabelsFile(text: String(decoding: data, as: UTF8.self), path: "fuzz.csv")
        case "jsonl":
            _ = try? Versioning.parseExport(data, path: "fuzz.jsonl")
        case "tree":
            let id = BlobID(hashing: data)
            // Anything that decodes must re-encode to the same bytes: the format is canonical.
            if let node = try? TreeFormat.decodeNode(data, id: id) {
                precondition(TreeFormat.encode(node) == data, "a tree node decoded but does not re-encode to its bytes")
            }
            if let root = try? TreeFormat.decodeRoot(data, id: id) {
                precondition(TreeFormat.encode(root) == data, "a root decoded but does not re-encode to its bytes")
            }
        case "pack-index":
            // As a remote's index is read: against a pack size and the 1 MiB object limit; then every
            // lookup must stay in bounds.
            let size = data.count >= 8 ? data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) } % (1 << 34) : 0
            if let index = try? PackIndex(data: data, name: "fuzz", path: "fuzz.idx", packSize: size, maxObjectSize: 1 << 20) {
                for entry in index.entries { precondition(index.find(entry.id) == entry, "an entry is not found where the index says") }
                _ = index.find(BlobID(hashing: data))
            }
        case "pack":
            if let entries = try? PackFormat.records(in: data, path: "fuzz.pack") {
                for entry in entries { precondition(entry.offset + entry.length <= UInt64(data.count), "a record past the end") }
            }
        case "checkpoint":
            if let checkpoint = try? Checkpoint(decoding: data) {
                precondition(checkpoint.weights.count == checkpoint.header.weightCount)
                _ = try? TrainedModel(checkpoint)
            }
        case "bundle":
            if let bundle = try? JSONDecoder().decode(CatalogBundle.self, from: data) {
                let items = Set(bundle.items.compactMap { BlobID(hex: $0.blob) })
                let (screened, _) = bundle.screened(items: items, snapshots: Set(bundle.snapshots.map(\.id)))
                _ = screened.merging(bundle)
            }
        case "yolo":
            // Whatever a label file holds, what it yields is boxes inside the image, of a named class.
            let classes = Int(data.first ?? 0) % 8 + 1
            let text = String(decoding: data.dropFirst(), as: UTF8.self)
            if let objects = try? YOLOLabels.parse(text, classCount: classes, ignoreSegmentation: (data.first ?? 0) & 0x80 != 0) {
                for object in objects {
                    precondition(object.classIndex >= 0 && object.classIndex < classes, "a class outside the names came through")
                    precondition(object.width > 0 && object.height > 0 && object.x >= -1e-6 && object.x + object.width <= 1 + 1e-6
                                 && object.y >= -1e-6 && object.y + object.height <= 1 + 1e-6, "a box outside the image came through")
                }
            }
        case "voc", "cvat":
            // Whatever an XML file holds, what it yields is boxes inside their images.
            let images = name == "voc" ? (try? PascalVOC.parse(data, dropFlags: true)).map { [$0] } : try? CVATImages.parse(data, ignoreSegmentation: true)
            for image in images ?? [] {
                for box in image.boxes {
                    precondition((try? box.check(imageWidth: image.width, imageHeight: image.height)) != nil, "a box outside its image came through")
                }
            }
        case "labelstudio":
            if let file = try? LabelStudioTasks(data, ignoreSegmentation: data.last.map { $0 & 1 == 1 } ?? false) {
                for task in file.tasks {
                    for box in task.boxes ?? [] {
                        precondition((try? box.check(imageWidth: task.width ?? 0, imageHeight: task.height ?? 0)) != nil, "a box outside its image came through")
                        precondition(file.classes.contains(box.className), "a box of an unlisted class came through")
                    }
                }
            }
        case "coco":
            // Whatever a COCO file holds, what it yields is boxes Cairn can store.
            if let file = try? COCOFile(data, path: "fuzz.json", options: BoxImportOptions(clip: data.first.map { $0 & 1 == 1 } ?? false)) {
                for image in file.images {
                    for box in image.boxes.boxes {
                        precondition((try? box.check(imageWidth: image.width, imageHeight: image.height)) != nil, "a box outside its image came through")
                        precondition(file.classes.contains(box.className), "a box of an unlisted class came through")
                    }
                }
            }
        case "tags":
            if let (tags, _) = try? RemoteFiles.tags(data) {
                for name in tags.tags.keys { precondition(SnapshotTag.problem(name: name) == nil, "a refused name came through") }
            }
        case "remote-meta":
            _ = try? RemoteFiles.meta(data)
            _ = try? RemoteFiles.snapshot(data, id: BlobID(hashing: Data("fuzz".utf8)))
        case "config":
            _ = try? RepositoryConfig.parse(String(decoding: data, as: UTF8.self), path: "fuzz.toml")
        case "infer-request":
            // The first byte says whether the body has Triton's binary part; if so the next two give the JSON's length.
            guard let flags = data.first else { return }
            var body = data.dropFirst()
            var headerLength: Int? = nil
            if flags & 1 == 1, body.count >= 2 {
                headerLength = Int(body[body.startIndex]) | Int(body[body.startIndex + 1]) << 8
                body = body.dropFirst(2)
            }
            if let request = try? InferRequest.parse(Data(body), headerLength: headerLength) {
                for tensor in request.inputs {
                    let elements = tensor.shape.reduce(1, *)
                    switch tensor.values {
                    case .bytes(let items): precondition(items.count == elements, "BYTES elements differ from the shape")
                    case .floats(let values): precondition(values.count == elements, "FP32 values differ from the shape")
                    }
                }
            }
        case "sweep-spec":
            // A spec (as JSON, which the YAML reader also gives): its trials stay within the cap, and what
            // `sweep refine` writes from them reads back as the same spec.
            guard let value = try? JSONDecoder().decode(JSONValue.self, from: data), let spec = try? SweepSpec.parse(value) else { return }
            let trials = (try? spec.trials(seed: 1)) ?? []
            precondition(trials.count <= SweepSpec.maxTrials, "more trials than the cap")
            let refined = spec.refined(top: Array(trials.prefix(3)))
            precondition((try? SweepSpec.parse(refined.document)) == refined, "a refined spec does not read back as itself")
        case "npy":
            // A run's embeddings: what decodes has its shape's values, all finite, and what Cairn
            // writes of it reads back as itself.
            guard let matrix = try? NumpyMatrix(npy: data) else { return }
            precondition(matrix.values.count == matrix.rows * matrix.columns && matrix.values.allSatisfy(\.isFinite))
            precondition((try? NumpyMatrix(npy: matrix.npy)) == matrix, "a matrix does not read back as itself")
        default:
            preconditionFailure("unknown fuzz target \(name); known: \(names.joined(separator: ", "))")
        }
    }
}

import CairnImaging
import CairnModels
import CairnRepository
import CairnSupport
import CairnTraining
import CairnVersioning
import Foundation

/// A repository of `count` learnable 8×8 images in classes `left` and `right` (the bright half),
/// imported, snapshotted and tagged `v1`.
public func learnableRepository(count: Int = 120, classes: [String] = ["left", "right"]) throws -> (TestRepository, Training) {
    let fixture = try TestRepository()
    var random = SplitMix64(seed: 42)
    for n in 0..<count {
        let label = classes[n % classes.count]
        let folder = "\(fixture.inputs)/\(label)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var pixels = [UInt8](repeating: 0, count: 64)
        for y in 0..<8 {
            for x in 0..<8 {
                let bright = (x < 4) == (label == classes[0])
                pixels[y * 8 + x] = UInt8(clamping: (bright ? 170 : 60) + Int(random.next() % 60))
            }
        }
        try ImageCodec.encodePNG(PixelBuffer(width: 8, height: 8, channels: 1, pixels: pixels))
            .write(to: URL(fileURLWithPath: "\(folder)/\(n).png"))
    }
    var options = ImportOptions()
    options.labelsFromDirectories = true
    try fixture.importInputs(options)
    let versioning = Versioning(repository: fixture.repository)
    _ = try versioning.snapshot(message: "v1", author: "test")
    _ = try versioning.tag("v1", author: "test")
    return (fixture, Training(versioning: versioning, cairnVersion: "test"))
}

public func smallParameters(_ model: ModelKind = .mlp, epochs: Int = 5) -> RunParameters {
    var p = RunParameters()
    p.model = model
    p.hidden = model == .cnn ? [] : [16]
    p.epochs = epochs
    p.batch = 16
    p.width = 8
    p.height = 8
    p.learningRate = 3e-3
    p.threads = 1
    return p
}

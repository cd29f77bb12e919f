import ArgumentParser
import CairnCatalog
import CairnImaging
import CairnLabeling
import CairnRepository
import CairnSupport
import Foundation

/// Keystroke-to-redraw latency of box labeling (`cairn label --boxes`) with many boxes on a large
/// image: `BoxUI.handle` then `BoxUI.render` — the edit, the frame composed over the view's image
/// sample, and the terminal text of the changed cells — for a 120x40 terminal, keys from a fixed
/// script (crosshair moves, Tab through boxes, moving and resizing boxes, drawing, relabeling,
/// deleting, undoing, zooming and the panning that follows). Writing to the terminal is left out
/// (the terminal's speed, not ours); the bytes that would be written are counted.
struct BoxLabelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "box-label",
        abstract: "Latency percentiles from a box labeling keystroke to its redraw (1,000 boxes on 4000x3000, 120x40).",
        discussion: "Example: cairn-bench box-label --boxes 1000 --keys 3000   (--render sixel: the graphics path)")

    @Option(help: "Where to make the scratch repository.") var work: String = "/tmp/cairn-bench"
    @Option(help: "Image width.") var width = 4000
    @Option(help: "Image height.") var height = 3000
    @Option(help: "Boxes on the image.") var boxes = 1000
    @Option(help: "Keystrokes to time.") var keys = 3000
    @Option(help: "symbols (what tmux shows), sixel, kitty or iterm.") var render: String = "symbols"
    @Option(help: "Terminal colours: 16777216 (truecolor) or 256.") var colors = 16_777_216

    func run() throws {
        let repoPath = work + "/box-label-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: repoPath) }
        let repository = try Repository.initialize(at: repoPath)
        // A photo-like image: gradients with noise and blocks, so the sample is not flat.
        var generator = SplitMix64(seed: 7)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let at = (y * width + x) * 3
                let block = ((x / 97) ^ (y / 61)) & 7
                pixels[at] = UInt8((x * 255 / width + block * 13) & 0xFF)
                pixels[at + 1] = UInt8((y * 255 / height + Int(generator.next() & 15)) & 0xFF)
                pixels[at + 2] = UInt8((block * 32 + Int(generator.next() & 7)) & 0xFF)
            }
        }
        let folder = repoPath + "-images"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try ImageCodec.encodeJPEG(PixelBuffer(width: width, height: height, channels: 3, pixels: pixels), quality: 85)
            .write(to: URL(fileURLWithPath: folder + "/large.jpg"))
        _ = try Importer(repository: repository, options: ImportOptions()).run(paths: [folder])
        let names = ["person", "car", "bicycle", "dog", "sign"]
        try repository.catalog.write { tx in
            let classes = Dictionary(uniqueKeysWithValues: try names.map { try tx.ensureClass($0) }.map { ($0.name, $0) })
            guard let item = try tx.allItems(split: nil).first else { throw ValidationError("the image did not import") }
            let me = try tx.ensureAnnotator("bench")
            var set: [Box] = []
            while set.count < boxes {
                let w = Double(20 + Int(generator.next() % 400)), h = Double(20 + Int(generator.next() % 400))
                let x = Double(generator.next() % UInt64(width - Int(w))), y = Double(generator.next() % UInt64(height - Int(h)))
                set.append(Box(className: names[Int(generator.next() % UInt64(names.count))], x: x, y: y, width: w, height: h))
            }
            try tx.appendBoxes(.annotations, item: item, personID: me.id, boxes: BoxSet(set), classes: classes)
        }
        let session = try LabelSession(catalog: repository.catalog, annotator: "bench", queue: .mine, kind: .boxes)
        let keyMap = try KeyMap(classList: session.classes, mode: .boxes)
        let mode = ImageRenderer.Mode(rawValue: render) ?? .symbols
        let ui = BoxUI(session: session, store: repository.store, renderer: ImageRenderer(mode, environment: colors == 256 ? ["TERM": "xterm-256color"] : ["COLORTERM": "truecolor"]),
                       keys: keyMap, size: (120, 40))
        let firstStart = DispatchTime.now().uptimeNanoseconds
        var bytes = try ui.render().utf8.count
        let first = Double(DispatchTime.now().uptimeNanoseconds - firstStart) / 1e6
        // One round of the script: about what an annotator does around one object.
        let round: [Key] = [.character("l"), .character("l"), .character("j"), .character("L"), .character("J"), .character("\t"),
                            .character("\t"), .character("m"), .character("l"), .character("j"), .character("m"), .character("L"),
                            .character("J"), .escape, .escape, .character("h"), .character(" "), .character("L"), .character("J"),
                            .character("l"), .character(" "), .character("2"), .character("u"), .character("k"), .character("+"),
                            .character("L"), .character("L"), .character("L"), .character("J"), .character("J"), .character("-"),
                            .character("\t"), .character("x"), .character("u"), .character("H"), .character("K")]
        var samples: [Double] = [], zoomSamples: [Double] = []
        for i in 0..<keys {
            let key = round[i % round.count]
            let start = DispatchTime.now().uptimeNanoseconds
            guard try ui.handle(key) else { break }
            bytes += try ui.render().utf8.count
            let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            samples.append(ms)
            if key == .character("+") || key == .character("-") { zoomSamples.append(ms) }
        }
        samples.sort()
        zoomSamples.sort()
        func pct(_ values: [Double], _ p: Double) -> String { format(values.isEmpty ? 0 : values[min(values.count - 1, Int(Double(values.count) * p))], 2) }
        emit(["bench": "box_label_latency", "render": render, "image": "\(width)x\(height)", "boxes": ui.editor?.boxes.count ?? 0,
              "keys": samples.count, "p50_ms": pct(samples, 0.5), "p90_ms": pct(samples, 0.9), "p99_ms": pct(samples, 0.99),
              "max_ms": format(samples.last ?? 0, 2), "zoom_keys": zoomSamples.count, "zoom_p99_ms": pct(zoomSamples, 0.99),
              "first_frame_ms": format(first, 1), "mean_bytes_per_key": bytes / max(1, samples.count)])
        session.close()
    }
}


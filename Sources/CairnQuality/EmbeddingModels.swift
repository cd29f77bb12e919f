import CairnCatalog
import CairnModels
import CairnStore
import CairnSupport
import CairnTraining
import Foundation
import Synchronization

extension RunEmbeddings {
    /// Rows `rows` as 1x1 "images" of `dimensions` channels, each dimension kept as a byte over its
    /// mean ± 4 standard deviations (over every row): the pixel table the in-memory learners
    /// read, so a model on embeddings is trained and normalized per dimension like one on pixels.
    func table(rows: [Int]) -> (PixelTable, Preprocessing) {
        let d = dimensions, n = keys.count
        var mean = [Double](repeating: 0, count: d), square = mean
        for r in 0..<n { for j in 0..<d { let v = Double(vectors[r * d + j]); mean[j] += v; square[j] += v * v } }
        let low = (0..<d).map { j -> Float in
            let m = mean[j] / Double(n)
            return Float(m - 4 * max(1e-12, square[j] / Double(n) - m * m).squareRoot())
        }
        let span = (0..<d).map { j -> Float in 2 * (Float(mean[j] / Double(n)) - low[j]) }
        var pixels = [UInt8](repeating: 0, count: rows.count * d)
        for (i, r) in rows.enumerated() {
            for j in 0..<d {
                let scaled = (vectors[r * d + j] - low[j]) / max(span[j], 1e-12) * 255
                pixels[i * d + j] = UInt8(max(0, min(255, scaled.rounded())))
            }
        }
        return (PixelTable(sampleSize: d, pixels: pixels), Preprocessing(width: 1, height: 1, channels: d))
    }

    /// Near-duplicates among `items` by the cosine of their embeddings: pairs across splits whose
    /// cosine distance (1 − cosine) is at most `threshold`, joined into groups as `Thumbnails`
    /// does; items without an embedding are counted, not compared.
    func duplicates(_ items: [ItemRecord], threshold: Double) -> (pairs: [(a: Int, b: Int, distance: Double)], groups: [[Int]], uncovered: Int) {
        let covered = items.indices.filter { row(items[$0].blobID) != nil }
        let d = dimensions, n = covered.count
        var scaled = [Float](repeating: 0, count: n * d)
        for (i, item) in covered.enumerated() {
            let r = row(items[item].blobID)!
            let norm = (0..<d).reduce(Float(0)) { $0 + vectors[r * d + $1] * vectors[r * d + $1] }.squareRoot()
            for j in 0..<d { scaled[i * d + j] = norm > 0 ? vectors[r * d + j] / norm : 0 }
        }
        let unit = scaled
        // Blocks of the upper triangle, one matrix product each.
        let block = 1024
        let starts = Array(stride(from: 0, to: n, by: block))
        let tasks = starts.indices.flatMap { a in starts.indices.filter { $0 >= a }.map { (a, $0) } }
        let level = Float(1 - threshold)
        let found = Parallel.map(tasks.count) { t -> [(a: Int, b: Int, distance: Double)] in
            let (x0, y0) = (starts[tasks[t].0], starts[tasks[t].1])
            let (m, k) = (min(block, n - x0), min(block, n - y0))
            var c = [Float](repeating: 0, count: m * k)
            unit.withUnsafeBufferPointer { u in
                BLAS.gemm(false, true, m: m, n: k, k: d, u.baseAddress! + x0 * d, u.baseAddress! + y0 * d, c.withUnsafeMutableBufferPointer { $0.baseAddress! })
            }
            var out: [(a: Int, b: Int, distance: Double)] = []
            for i in 0..<m {
                for j in 0..<k where c[i * k + j] >= level && x0 + i < y0 + j {
                    let (a, b) = (covered[x0 + i], covered[y0 + j])
                    if items[a].split != items[b].split { out.append((a, b, Double(max(0, 1 - c[i * k + j])))) }
                }
            }
            return out
        }.flatMap { $0 }
        var groups = UnionFind(items.count)
        let pairs = groups.join(found)
        return (pairs, groups.groups(of: covered), items.count - n)
    }
}

/// A softmax (a linear probe, the usual model on embeddings) fitted on the embeddings of the items
/// labeled now, for the model-in-the-loop features of a run that wrote embeddings: its suggestions
/// and the uncertainty queue's order. Refitted, not recorded: fitting takes a fraction of a second.
final class EmbeddingClassifier: Sendable {
    private let learner: Mutex<Learner>
    private let table: PixelTable
    private let embeddings: RunEmbeddings
    let classes: Int

    /// Nil when fewer than two of `classes` have a labeled item with an embedding.
    init?(_ embeddings: RunEmbeddings, labels: [BlobID: Int], classes: Int, seed: UInt64 = 0) {
        let labeled = labels.compactMap { blob, label in embeddings.row(blob).map { ($0, label) } }.sorted { $0.0 < $1.0 }
        guard Set(labeled.map(\.1)).count >= 2 else { return nil }
        let (table, preprocessing) = embeddings.table(rows: Array(0..<embeddings.keys.count))
        var byRow = [Int32](repeating: 0, count: embeddings.keys.count)
        for (row, label) in labeled { byRow[row] = Int32(label) }
        var settings = Learner.Settings.forModel(.softmax)
        settings.seed = seed
        learner = Mutex(Learner(table, rows: labeled.map(\.0), labels: byRow, classes: classes, preprocessing: preprocessing, settings: settings))
        (self.table, self.embeddings, self.classes) = (table, embeddings, classes)
    }

    /// Class probabilities for an image, nil when the run wrote no embedding for it.
    func probabilities(_ blob: BlobID) -> [Float]? {
        guard let row = embeddings.row(blob) else { return nil }
        return learner.withLock { $0.probabilities(table, rows: [row]) }
    }
}

extension Training {
    /// The classifier of run `record`'s embeddings fitted on the labels given so far (nil when the
    /// run has no embeddings or fewer than two classes are labeled among its items).
    func embeddingClassifier(_ record: RunRecord) throws -> EmbeddingClassifier? {
        guard record.program?.embeddings != nil else { return nil }
        let embeddings = try embeddings(of: record)
        let column = Dictionary(record.classes.enumerated().map { ($1, $0) }) { a, _ in a }
        let labels = try catalog.read { tx -> [BlobID: Int] in
            let resolved = try tx.resolvedLabels()
            var out: [BlobID: Int] = [:]
            for item in try tx.allItems() {
                guard let classes = resolved[item.id]?.label?.classes, classes.count == 1, let k = column[classes[0]] else { continue }
                out[item.blobID] = k
            }
            return out
        }
        return EmbeddingClassifier(embeddings, labels: labels, classes: record.classes.count)
    }
}

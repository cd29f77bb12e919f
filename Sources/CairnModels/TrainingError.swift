import CairnStore
import CairnSupport
import Foundation

/// What went wrong in training, evaluation or prediction, with what to do about it.
public enum TrainingError: CairnError, Equatable {
    /// A parameter is out of range (`what` names it and the accepted range).
    case badParameter(String)
    /// The snapshot cannot be trained on as it is (no labels, one class, an empty split).
    case unusableData(String)
    /// An item's blob is missing, corrupt or not a decodable image.
    case unreadableItem(blob: BlobID, path: String, reason: String)
    /// The loss became NaN or infinite, or an epoch's mean loss exceeded ten times chance level.
    case diverged(epoch: Int, step: Int, loss: Double, learningRate: Float)
    /// A checkpoint blob does not decode.
    case badCheckpoint(String)
    /// The run has no checkpoint to evaluate or predict with.
    case noCheckpoint(run: String, status: String)
    /// A built-in model asked of a `cairn run` program's run, which has none.
    case programRun(run: String)
    /// An image given to `predict` cannot be read.
    case unreadableImage(path: String, reason: String)
    /// A predictions file with lines that cannot be stored (the first problems, and how many there were); nothing was stored.
    case badPredictions(file: String, problems: [String], total: Int)
    /// Embeddings (a program's embeddings.npy and its keys) that cannot be stored or read back; nothing was stored.
    case badEmbeddings(file: String, problems: [String], total: Int)
    /// A sweep spec that cannot be used, naming the key.
    case badSweepSpec(String)
    /// A run's or sweep's record in the catalog that does not decode (damaged, or from a bad bundle).
    case damagedRecord(kind: String, id: String)

    public var description: String {
        switch self {
        case .badParameter(let what): what
        case .unusableData(let why): "cannot train on this snapshot: \(why)"
        case .unreadableItem(let blob, let path, let reason):
            "item \(path) (blob \(blob.hex)) cannot be read: \(reason); run `cairn fsck` to see what is damaged"
        case .diverged(let epoch, let step, let loss, let lr):
            (loss.isFinite ? "the loss diverged to \(String(format: "%.1f", loss)) (far worse than guessing)" : "the loss became NaN")
                + " at epoch \(epoch), step \(step): learning rate \(lr) is too high for this model; try a smaller --lr (default 3e-4)"
        case .badCheckpoint(let why): "the run's checkpoint does not load: \(why)"
        case .badSweepSpec(let why): "sweep spec: \(why)"
        case .damagedRecord(let kind, let id): "the record of \(kind) \(Printable.escaped(id)) in the catalog is damaged and cannot be read"
        case .noCheckpoint(let run, let status): "run \(run) has no checkpoint (it \(status) before finishing an epoch)"
        case .programRun(let run):
            "run \(run) is a `cairn run` program's run: it has no built-in model to serve, evaluate, export or predict with "
                + "(its own files are its artifacts: `cairn runs show \(run)`; its predictions come from predictions.jsonl)"
        case .unreadableImage(let path, let reason): "cannot read \(path): \(reason)"
        case .badPredictions(let file, let problems, let total), .badEmbeddings(let file, let problems, let total):
            "\(file): nothing stored; \(total) problem\(total == 1 ? "" : "s"): " + problems.joined(separator: "; ")
                + (total > problems.count ? "; …" : "")
        }
    }
}

import CairnSupport
import Foundation

/// One model's class probabilities for one item (`probabilities` in the order of the run's classes).
public struct Prediction: Sendable, Hashable {
    public var itemID: Int64
    public var probabilities: [Float]

    public init(itemID: Int64, probabilities: [Float]) {
        self.itemID = itemID
        self.probabilities = probabilities
    }

    /// The index of the most probable class (the first of equals).
    public var predictedClass: Int {
        probabilities.argmax() ?? 0
    }
}

/// What a read transaction offers of `CatalogPredictions`.
public protocol CatalogPredictionsReading {
    /// Every prediction of run `runID`, in item id order.
    func predictions(runID: String) throws -> [Prediction]
    /// Run `runID`'s prediction for one item, if it has one.
    func prediction(runID: String, itemID: Int64) throws -> Prediction?
    /// How many predictions each run has, by run id (runs without any are absent).
    func predictionCounts() throws -> [String: Int]
}

/// Predictions of runs, keyed by (run, item): what a model thought, never a label.
public protocol CatalogPredictions: CatalogPredictionsReading {
    /// Replaces every prediction of run `runID` with `predictions`.
    /// - Throws: `CatalogError.notFound` for an unknown run.
    func replacePredictions(runID: String, _ predictions: [Prediction]) throws
}

@testable import CairnModels
@testable import CairnTraining
import Foundation
import Testing

/// Backpropagation checked against central finite differences, for every model family.
@Suite struct GradientTests {
    /// Loss as a Double for the current weights.
    private func loss(_ network: Network, _ input: [Float], _ labels: [Int32]) -> Double {
        network.lossAndGradients(input, labels: labels[...], batch: labels.count)
    }

    @Test(arguments: [
        ModelSpec(kind: .softmax, hidden: [], width: 3, height: 3, channels: 1, classes: 3),
        ModelSpec(kind: .mlp, hidden: [7, 5], width: 3, height: 2, channels: 2, classes: 4),
        ModelSpec(kind: .cnn, hidden: [6], width: 5, height: 4, channels: 2, classes: 3),
    ])
    func backpropagationMatchesFiniteDifferences(spec: ModelSpec) {
        let network = Network(spec: spec, seed: 7)
        var random = SeededRandom(seed: 99)
        let batch = 3
        let input = (0..<batch * spec.inputSize).map { _ in Float(random.normal()) }
        let labels = (0..<batch).map { Int32($0 % spec.classes) }
        _ = loss(network, input, labels)
        let analytic = network.parameters.map(\.grad)
        var checked = 0
        for (p, parameter) in network.parameters.enumerated() {
            // A spread of entries of every parameter tensor.
            for i in stride(from: 0, to: parameter.value.count, by: max(1, parameter.value.count / 7)) {
                let original = parameter.value[i]
                let h: Float = 1e-3
                parameter.value[i] = original + h
                let up = loss(network, input, labels)
                parameter.value[i] = original - h
                let down = loss(network, input, labels)
                parameter.value[i] = original
                let numeric = (up - down) / (2 * Double(h))
                let a = Double(analytic[p][i])
                // Max-pool and ReLU kinks make a few entries noisy: compare with a relative tolerance.
                #expect(abs(numeric - a) <= 2e-3 + 0.05 * max(abs(numeric), abs(a)),
                        "\(spec.kind) parameter \(p)[\(i)]: backprop \(a), finite difference \(numeric)")
                checked += 1
            }
        }
        #expect(checked > 10)
    }

    @Test func changingAGradientBreaksTheCheck() {
        // The check above can fail: a gradient scaled by 2 differs from the finite difference.
        let spec = ModelSpec(kind: .softmax, hidden: [], width: 2, height: 2, channels: 1, classes: 2)
        let network = Network(spec: spec, seed: 1)
        let input: [Float] = [1, -1, 0.5, 2, -0.3, 0.7, 1.1, -2]
        _ = loss(network, input, [0, 1])
        let w = network.parameters[0]
        let analytic = Double(w.grad[0]) * 2
        let original = w.value[0]
        w.value[0] = original + 1e-2
        let up = loss(network, input, [0, 1])
        w.value[0] = original - 1e-2
        let down = loss(network, input, [0, 1])
        #expect(abs((up - down) / 2e-2 - analytic) > 1e-3)
    }

    @Test func seededInitializationIsReproducible() {
        let spec = ModelSpec(kind: .mlp, hidden: [16], width: 4, height: 4, channels: 1, classes: 3)
        #expect(Network(spec: spec, seed: 3).flatWeights() == Network(spec: spec, seed: 3).flatWeights())
        #expect(Network(spec: spec, seed: 3).flatWeights() != Network(spec: spec, seed: 4).flatWeights())
    }

    @Test func metricsFromAKnownConfusion() {
        // truth: a a a b b c ; predicted: a a b b c c
        let e = Evaluation(classes: ["a", "b", "c"], truth: [0, 0, 0, 1, 1, 2], predicted: [0, 0, 1, 1, 2, 2], loss: 0.5)
        #expect(e.confusion == [[2, 1, 0], [0, 1, 1], [0, 0, 1]])
        #expect(abs(e.accuracy - 4.0 / 6) < 1e-12)
        #expect(abs(e.perClass[0].precision - 1) < 1e-12 && abs(e.perClass[0].recall - 2.0 / 3) < 1e-12)
        #expect(abs(e.perClass[1].precision - 0.5) < 1e-12 && abs(e.perClass[1].recall - 0.5) < 1e-12)
        #expect(abs(e.perClass[2].precision - 0.5) < 1e-12 && abs(e.perClass[2].recall - 1) < 1e-12)
        let f1 = [0.8, 0.5, 2.0 / 3]
        #expect(abs(e.macroF1 - f1.reduce(0, +) / 3) < 1e-12)
    }

    @Test func diagnosisNamesUnderAndOverFitting() {
        #expect(FitDiagnosis(train: 0.5, val: 0.48, test: nil, baseline: 0.45).verdict == .underfitting)
        #expect(FitDiagnosis(train: 1.0, val: 0.8, test: 0.79, baseline: 0.1).verdict == .overfitting)
        #expect(FitDiagnosis(train: 0.98, val: 0.96, test: 0.97, baseline: 0.1).verdict == .balanced)
    }

    @Test func checkpointRoundTrips() throws {
        let spec = ModelSpec(kind: .cnn, hidden: [4], width: 4, height: 4, channels: 1, classes: 2)
        let network = Network(spec: spec, seed: 5)
        let checkpoint = Checkpoint(
            header: .init(spec: spec, classes: ["x", "y"], preprocessing: Preprocessing(width: 4, height: 4, channels: 1),
                          normalization: Normalization(mean: [0.5], std: [0.25]), weightCount: network.parameterCount),
            weights: network.flatWeights())
        let decoded = try Checkpoint(decoding: try checkpoint.encoded())
        #expect(decoded == checkpoint)
        var truncated = try checkpoint.encoded()
        truncated.removeLast(3)
        #expect(throws: TrainingError.self) { try Checkpoint(decoding: truncated) }
    }
}

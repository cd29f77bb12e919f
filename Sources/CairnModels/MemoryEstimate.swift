import Foundation

/// About how much memory a run needs, worked out before anything is allocated, so a parameter
/// combination that needs tens of GB is refused with a clear message instead of taking the machine
/// down (or the process being killed half way).
package struct MemoryEstimate {
    /// Bytes of weights with their gradients and Adam's two moments.
    var model: Int
    /// Bytes of one batch's activations, forward and backward (im2col matrices dominate a cnn).
    var batch: Int
    /// Bytes of the preprocessed pixel table.
    var data: Int

    var total: Int { model.addingReportingOverflow(batch).partialValue.addingReportingOverflow(data).partialValue }

    /// The estimate for training `spec` on `examples` images in batches of `batch`; nil when it
    /// overflows (which is to say: far too much).
    init?(spec: ModelSpec, batch: Int, examples: Int) {
        guard let parameters = spec.parameterCount() else { return nil }
        model = parameters * 4 * 4
        var floats = 0
        var (h, w, c) = (spec.height, spec.width, spec.channels)
        var size = spec.inputSize
        if spec.kind == .cnn {
            for filters in [16, 32] {
                floats += h * w * (9 * c + 3 * filters) + (h / 2) * (w / 2) * filters * 2
                (h, w, c) = (h / 2, w / 2, filters)
            }
            size = h * w * c
        }
        floats += size * 2
        for width in (spec.kind == .softmax ? [] : spec.hidden) + [spec.classes] { floats += width * 3 }
        let (perBatch, overflow) = floats.multipliedReportingOverflow(by: batch * 4 * 2)
        guard !overflow else { return nil }
        self.batch = perBatch
        data = examples * spec.inputSize
    }

    /// The machine's physical memory in bytes.
    static var physicalMemory: Int { Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE))) }

    /// Throws when the run would need more than 80% of the machine's memory.
    package static func check(spec: ModelSpec, batch: Int, examples: Int, available: Int = physicalMemory) throws(TrainingError) {
        let limit = available / 5 * 4
        let gb = { (bytes: Int) in String(format: "%.1f GB", Double(bytes) / 1e9) }
        guard let estimate = MemoryEstimate(spec: spec, batch: batch, examples: examples) else {
            throw .badParameter("this model and batch size would need more memory than any machine has; use fewer or smaller hidden layers, a smaller --size or --batch")
        }
        guard estimate.total <= limit else {
            throw .badParameter("this run would need about \(gb(estimate.total)) (model \(gb(estimate.model)), a batch \(gb(estimate.batch)), images \(gb(estimate.data))) "
                                + "and this machine has \(gb(available)); use fewer or smaller hidden layers, a smaller --size or --batch")
        }
    }
}

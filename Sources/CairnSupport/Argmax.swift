extension Collection where Element: Comparable {
    /// The offset from `startIndex` of the largest element, the first of equal ones (so the same
    /// on every run); nil when empty. The one argmax: a row of probabilities, class counts, scores.
    public func argmax() -> Int? {
        var best: (offset: Int, value: Element)?
        for (offset, value) in enumerated() where best == nil || best!.value < value { best = (offset, value) }
        return best?.offset
    }
}

import CairnCatalog
import CairnLabeling
import Foundation
import Testing

@Suite struct BoxAgreementTests {
    /// ada and bob agree on one cat (IoU 0.8), ada has a cat bob missed, their dogs overlap too little;
    /// a third item only ada drew on does not count.
    @Test func boxesMatchWithinAClassAtHalfOverlap() {
        let cat = Box(className: "cat", x: 0, y: 0, width: 10, height: 10)
        let catNearby = Box(className: "cat", x: 0, y: 0, width: 10, height: 8)  // IoU 0.8
        let otherCat = Box(className: "cat", x: 50, y: 50, width: 10, height: 10)
        let dog = Box(className: "dog", x: 20, y: 0, width: 10, height: 10), farDog = Box(className: "dog", x: 27, y: 0, width: 10, height: 10)
        let report = BoxAgreementReport(sets: [
            ["ada": BoxSet([cat, otherCat, dog]), "bob": BoxSet([catNearby, farDog])],
            ["ada": BoxSet([cat])],
        ])
        #expect(report.items == 1)
        #expect(report.pairs.map { [$0.a, $0.b] } == [["ada", "bob"]])
        #expect(report.overall.boxesA == 3 && report.overall.boxesB == 2 && report.overall.matched == 1)
        #expect(report.overall.f1 == 0.4)
        #expect(abs((report.overall.meanIoU ?? 0) - 0.8) < 1e-12)
        #expect(report.perClass.map(\.className) == ["cat", "dog"])
        #expect(report.perClass[0].counts.f1 == 2.0 / 3.0 && report.perClass[1].counts.f1 == 0)
        // A class across classes never matches, however much the boxes overlap.
        let crossed = BoxAgreementReport(sets: [["ada": BoxSet([cat]), "bob": BoxSet([Box(className: "dog", x: 0, y: 0, width: 10, height: 10)])]])
        #expect(crossed.overall.matched == 0)
        // Two empty sets agree on nothing to match: F1 undefined, not 0.
        #expect(BoxAgreementReport(sets: [["ada": BoxSet([]), "bob": BoxSet([])]]).overall.f1 == nil)
    }
}

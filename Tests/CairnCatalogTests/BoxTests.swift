import CairnCatalog
import Foundation
import Testing

@Suite struct BoxTests {
    let cat = Box(className: "cat", x: 0, y: 0, width: 10, height: 10)

    @Test func iouIsOverlapOverUnion() {
        #expect(cat.iou(cat) == 1)
        #expect(cat.iou(Box(className: "dog", x: 5, y: 0, width: 10, height: 10)) == 50.0 / 150.0)
        #expect(cat.iou(Box(className: "cat", x: 10, y: 0, width: 10, height: 10)) == 0)
    }

    @Test func aSetHasOneOrderAndOneEncoding() {
        let dog = Box(className: "dog", x: -0.0, y: 1, width: 2, height: 3)
        #expect(BoxSet([dog, cat, cat]) == BoxSet([cat, dog]))
        #expect(BoxSet([dog, cat]).boxes.map(\.className) == ["cat", "dog"])
        #expect(dog.x.sign == .plus, "-0 is stored as 0")
        #expect(BoxSet([dog, cat]).canonicalText == BoxSet([cat, dog]).canonicalText)
    }

    @Test func changesPairBoxesByOverlap() {
        let moved = Box(className: "cat", x: 1, y: 0, width: 10, height: 10)
        let relabeled = Box(className: "dog", x: 20, y: 20, width: 10, height: 10)
        let before = BoxSet([cat, Box(className: "cat", x: 20, y: 20, width: 10, height: 10), Box(className: "bird", x: 50, y: 50, width: 5, height: 5)])
        let after = BoxSet([moved, relabeled, Box(className: "cow", x: 80, y: 0, width: 5, height: 5)])
        let changes = before.changes(to: after)
        #expect(changes.moved == [.init(old: cat, new: moved)])
        #expect(changes.relabeled.map(\.new) == [relabeled])
        #expect(changes.removed.map(\.className) == ["bird"])
        #expect(changes.added.map(\.className) == ["cow"])
        #expect(after.changes(to: after).isEmpty)
    }

    @Test func theCatalogEncodingRoundTripsAndRefusesDamage() throws {
        let set = BoxSet([cat, Box(className: "dog", x: 1.25, y: 2, width: 3, height: 4, crowd: true, occluded: true)])
        let data = try BoxCoding.encode(set, classIDs: ["cat": 1, "dog": 300])
        #expect(try BoxCoding.decode(data, classNames: [1: "cat", 300: "dog"]) == set)
        #expect(throws: CatalogError.self) { try BoxCoding.encode(set, classIDs: ["cat": 1]) }
        for bad in [data.dropLast(), data + Data([0]), Data([0xFF]), Data([5, 1])] {
            #expect(throws: CatalogError.self) { try BoxCoding.decode(bad, classNames: [1: "cat", 300: "dog"]) }
        }
        #expect(throws: CatalogError.self) { try BoxCoding.decode(data, classNames: [1: "cat"]) }
    }

    @Test func thePolicyTakesTheVerdictElseAgreement() {
        let a = BoxSet([cat]), b = BoxSet([])
        #expect(BoxPolicy.resolve([a], verdict: nil) == a)
        #expect(BoxPolicy.resolve([a, a], verdict: nil) == a)
        #expect(BoxPolicy.resolve([a, b], verdict: nil) == nil)
        #expect(BoxPolicy.resolve([a, b], verdict: b) == b)
        #expect(BoxPolicy.resolve([], verdict: nil) == nil)
    }
}

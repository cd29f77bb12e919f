import CairnCatalog
import CairnQuality
import CairnTraining
import Testing

/// The four kinds of box suspects, each in an image of its own beside clean ones.
@Suite struct BoxSuspectsTests {
    private func box(_ c: String, _ x: Double, _ y: Double, _ w: Double = 40, _ h: Double = 40) -> Box {
        Box(className: c, x: x, y: y, width: w, height: h)
    }
    private func seen(_ b: Box, _ c: String? = nil, score: Double = 0.9) -> BoxPrediction {
        BoxPrediction(className: c ?? b.className, x: b.x + 1, y: b.y, width: b.width, height: b.height, score: score)
    }

    @Test func eachKindIsFlaggedWithItsFixAndCleanImagesAreNot() {
        let car = box("car", 10, 10), dog = box("dog", 100, 100)
        var images = (0..<6).map { _ in DetectionEvaluation.Image(truth: [car, dog], detections: [seen(car), seen(dog)]) }
        images[1].truth = [car]                                                          // dog missing
        images[2].truth = [car, box("car", 100, 100)]                                    // dog called car
        images[3].truth = [car, box("dog", 125, 125)]                                    // dog box off by 25 of 40
        images[4].truth = [car, dog, box("car", 300, 300)]                               // a car where nothing is
        images[5].detections.append(BoxPrediction(className: "car", x: 200, y: 10, width: 40, height: 40, score: 0.3))  // a weak false alarm
        let suspects = BoxSuspects(images: images, classes: ["car", "dog"])
        let kinds = Dictionary(grouping: suspects.flags, by: \.image).mapValues { $0.map(\.kind) }
        #expect(kinds == [1: [.missing], 2: [.wrongClass], 3: [.badlyLocated], 4: [.spurious]], "\(suspects.flags)")
        #expect(Set(suspects.ranking.map(\.image)) == [1, 2, 3, 4])
        #expect(abs(suspects.thresholds["car"]! - 0.9) < 1e-9)
        #expect(suspects.flags.first { $0.kind == .wrongClass }?.prediction?.className == "dog")
        #expect(suspects.flags.first { $0.kind == .badlyLocated }?.label == box("dog", 125, 125))
        // Crowd labels are left alone, and predictions over them are not missing boxes.
        let crowd = BoxSuspects(images: [.init(truth: [Box(className: "car", x: 0, y: 0, width: 90, height: 90, crowd: true)],
                                               detections: [seen(car)])], classes: ["car"])
        #expect(crowd.flags.isEmpty)
    }
}

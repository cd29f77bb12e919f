@testable import CairnVersioning
import Foundation
import Testing

/// The streaming COCO reader reads what `JSONDecoder` reads (its oracle) and refuses what is not JSON.
@Suite struct COCOReaderTests {
    static let document = #"""
    {"info": {"description": "x", "nested": [1, [2, {"a": null}], true, false, -0.5e-3]},
     "licenses": [],
     "images": [{"id": 1, "file_name": "a\/b \u00e9\ud83d\ude00.png", "width": 640, "height": 480.0, "license": 3},
                {"id": 9007199254740993, "file_name": "tab\there \"q\"", "width": 2, "height": 2, "cairn_blob_id": null, "cairn_path": "p"}],
     "categories": [{"id": 7, "name": "cat", "supercategory": "animal"}, {"id": 3, "name": "dog"}],
     "annotations": [
       {"id": 101, "image_id": 1, "category_id": 7, "bbox": [1.25, 2, 3e1, 4.000000000000001], "area": 120, "iscrowd": 0,
        "segmentation": [[1, 2, 31.25, 2, 31.25, 6, 1.25, 6]], "attributes": {"occluded": true, "rotation": 0.0}},
       {"id": 102, "image_id": 1, "category_id": 3, "bbox": [0, 0, 1, 1], "iscrowd": null, "segmentation": {"counts": "abc", "size": [2, 2]}},
       {"id": 103, "image_id": 9007199254740993, "category_id": 3, "bbox": [0, 0, 1, 1],
        "segmentation": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], "attributes": null}
     ]}
    """#

    @Test func readsWhatJSONDecoderReads() throws {
        let data = Data(Self.document.utf8)
        let oracle = try JSONDecoder().decode(COCOInput.self, from: data)
        let read = try COCOReader.read(data)
        #expect(read == oracle)
        #expect(read.images[0].file_name == "a/b é😀.png" && read.images[0].height == 480)
        #expect(read.annotations[0].bbox.values == [1.25, 2, 30, 4.000000000000001])
        #expect(read.annotations[1].segmentation?.isRLE == true && read.annotations[2].segmentation?.isLarge == true)
    }

    @Test(arguments: [
        "", "{", "[]", #"{"images": []}"#, #"{"images": [], "categories": [], "annotations": []} x"#,
        #"{"images": [{"id": 01, "file_name": "a", "width": 1, "height": 1}], "categories": [], "annotations": []}"#,
        #"{"images": [{"id": 1, "file_name": "a\x", "width": 1, "height": 1}], "categories": [], "annotations": []}"#,
        #"{"images": [{"id": 1, "file_name": "\ud800", "width": 1, "height": 1}], "categories": [], "annotations": []}"#,
        #"{"images": [{"id": 1, "file_name": "a", "width": 1.5, "height": 1}], "categories": [], "annotations": []}"#,
        #"{"images": [{"id": 1, "file_name": "a", "width": 1}], "categories": [], "annotations": []}"#,
        #"{"images": [], "categories": [], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 1e999, 4]}]}"#,
        #"{"images": [], "categories": [], "annotations": [], "x": "#  + String(repeating: "[", count: 100_000),
        "{\"images\": [{\"id\": 1, \"file_name\": \"a\u{01}\", \"width\": 1, \"height\": 1}], \"categories\": [], \"annotations\": []}",
        #"{"images": [], "categories": [], "annotations": [],}"#,
    ])
    func refusesWhatIsNotCOCOJSON(_ text: String) {
        #expect(throws: COCOReader.Failure.self) { try COCOReader.read(Data(text.utf8)) }
    }

    @Test func refusesBytesThatAreNotUTF8() {
        var data = Data(#"{"images": [{"id": 1, "file_name": "a"#.utf8)
        data.append(0xFF)
        data.append(contentsOf: Array(#"", "width": 1, "height": 1}], "categories": [], "annotations": []}"#.utf8))
        #expect(throws: COCOReader.Failure.self) { try COCOReader.read(data) }
    }
}

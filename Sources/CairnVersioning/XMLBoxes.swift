import CairnCatalog
import CairnStore
import CairnSupport
import Foundation

/// A small XML tree for the box formats that are XML (Pascal VOC, CVAT for images 1.1): elements
/// with attributes, children and text, read by a parser of our own. Foundation's XMLParser was tried
/// first and crashed within seconds of fuzzing (a trap inside FoundationXML on crafted input), and
/// these files need only the plain core of XML: elements, attributes, text, CDATA, comments,
/// processing instructions and the five named and the numeric character references. A DTD is
/// refused (no entity can expand); depth and element count are bounded.
struct XMLElement {
    var name: String
    var attributes: [String: String]
    var children: [XMLElement] = []
    var text = ""

    /// The children named `name`.
    func all(_ name: String) -> [XMLElement] { children.filter { $0.name == name } }
    /// The first child named `name`.
    func first(_ name: String) -> XMLElement? { children.first { $0.name == name } }
    /// The trimmed text of the first child named `name`.
    func value(_ name: String) -> String? { first(name)?.text.trimmingCharacters(in: .whitespacesAndNewlines) }

    /// Most bytes a document may have, elements it may hold, and how deep they may nest.
    static let maxBytes = 256 << 20
    static let maxElements = 20_000_000
    static let maxDepth = 64

    /// Parses `data` into its root element.
    /// - Throws: the reason, with the line: a DTD, not well-formed XML, too deep or too large.
    static func parse(_ data: Data) throws(XMLRefusal) -> XMLElement {
        guard data.count <= maxBytes else { throw XMLRefusal("the file is over \(maxBytes >> 20) MiB") }
        var reader = Reader(bytes: [UInt8](data))
        return try reader.document()
    }

    private struct Reader {
        let bytes: [UInt8]
        var at = 0
        var elements = 0

        init(bytes: [UInt8]) {
            self.bytes = bytes
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { at = 3 }
        }

        func fail(_ why: String) -> XMLRefusal {
            XMLRefusal("not well-formed XML (line \(bytes[..<min(at, bytes.count)].filter { $0 == 10 }.count + 1)): \(why)")
        }

        func peek(_ text: String) -> Bool { bytes[at...].starts(with: text.utf8) }

        mutating func skip(past end: String) throws(XMLRefusal) {
            let pattern = Array(end.utf8)
            while at + pattern.count <= bytes.count {
                if bytes[at..<(at + pattern.count)].elementsEqual(pattern) { at += pattern.count; return }
                at += 1
            }
            throw fail("'\(end)' never comes")
        }

        mutating func skipSpace() { while at < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[at]) { at += 1 } }

        /// Whitespace, comments and processing instructions (the XML declaration among them).
        mutating func skipMisc() throws(XMLRefusal) {
            while true {
                skipSpace()
                if peek("<!--") { try skip(past: "-->") } else if peek("<?") { try skip(past: "?>") } else { return }
            }
        }

        mutating func document() throws(XMLRefusal) -> XMLElement {
            try skipMisc()
            if peek("<!DOCTYPE") || peek("<!ENTITY") {
                throw XMLRefusal("it declares a DTD or entities, which annotation files do not need (refused: entities can expand without bound)")
            }
            guard at < bytes.count, bytes[at] == UInt8(ascii: "<") else { throw fail("no root element") }
            let root = try element(depth: 0)
            try skipMisc()
            guard at == bytes.count else { throw fail("something follows the root element") }
            return root
        }

        static func isNameByte(_ b: UInt8, first: Bool) -> Bool {
            (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x3A || b >= 0x80
                || (!first && ((b >= 0x30 && b <= 0x39) || b == 0x2D || b == 0x2E))
        }

        mutating func name() throws(XMLRefusal) -> String {
            let start = at
            while at < bytes.count, Self.isNameByte(bytes[at], first: at == start) { at += 1 }
            guard at > start else { throw fail("a name is missing") }
            return String(decoding: bytes[start..<at], as: UTF8.self)
        }

        /// Text up to `stop`, with character references replaced.
        mutating func characters(until stop: UInt8) throws(XMLRefusal) -> String {
            var out: [UInt8] = []
            while at < bytes.count, bytes[at] != stop {
                let b = bytes[at]
                if b == UInt8(ascii: "<") { throw fail("'<' inside a value") }
                guard b == UInt8(ascii: "&") else { out.append(b); at += 1; continue }
                guard let semicolon = bytes[at...].prefix(12).firstIndex(of: UInt8(ascii: ";")) else { throw fail("'&' without ';'") }
                let reference = String(decoding: bytes[(at + 1)..<semicolon], as: UTF8.self)
                at = semicolon + 1
                switch reference {
                case "amp": out.append(UInt8(ascii: "&"))
                case "lt": out.append(UInt8(ascii: "<"))
                case "gt": out.append(UInt8(ascii: ">"))
                case "quot": out.append(UInt8(ascii: "\""))
                case "apos": out.append(UInt8(ascii: "'"))
                default:
                    let code = reference.hasPrefix("#x") ? UInt32(reference.dropFirst(2), radix: 16)
                        : reference.hasPrefix("#") ? UInt32(reference.dropFirst(), radix: 10) : nil
                    guard let code, code > 0, let scalar = Unicode.Scalar(code) else {
                        throw fail("unknown reference '&\(Printable.escaped(String(reference.prefix(10))));'")
                    }
                    out += Array(String(Character(scalar)).utf8)
                }
            }
            return String(decoding: out, as: UTF8.self)
        }

        mutating func element(depth: Int) throws(XMLRefusal) -> XMLElement {
            elements += 1
            guard depth < XMLElement.maxDepth else { throw fail("nested more than \(XMLElement.maxDepth) deep") }
            guard elements <= XMLElement.maxElements else { throw fail("more than \(XMLElement.maxElements) elements") }
            at += 1  // <
            var element = XMLElement(name: try name(), attributes: [:])
            while true {
                skipSpace()
                guard at < bytes.count else { throw fail("<\(Printable.escaped(element.name))> is not closed") }
                if peek("/>") { at += 2; return element }
                if bytes[at] == UInt8(ascii: ">") { at += 1; break }
                let key = try name()
                skipSpace()
                guard at < bytes.count, bytes[at] == UInt8(ascii: "=") else { throw fail("attribute '\(Printable.escaped(key))' has no '='") }
                at += 1
                skipSpace()
                guard at < bytes.count, bytes[at] == UInt8(ascii: "\"") || bytes[at] == UInt8(ascii: "'") else { throw fail("an attribute value is not quoted") }
                let quote = bytes[at]
                at += 1
                let value = try characters(until: quote)
                guard at < bytes.count else { throw fail("an attribute value is not closed") }
                at += 1
                guard element.attributes.updateValue(value, forKey: key) == nil else { throw fail("attribute '\(Printable.escaped(key))' twice") }
            }
            while true {
                guard at < bytes.count else { throw fail("<\(Printable.escaped(element.name))> is not closed") }
                if peek("</") {
                    at += 2
                    let end = try name()
                    skipSpace()
                    guard end == element.name, at < bytes.count, bytes[at] == UInt8(ascii: ">") else {
                        throw fail("</\(Printable.escaped(end))> closes <\(Printable.escaped(element.name))>")
                    }
                    at += 1
                    return element
                }
                if peek("<!--") { try skip(past: "-->"); continue }
                if peek("<?") { try skip(past: "?>"); continue }
                if peek("<![CDATA[") {
                    at += 9
                    let start = at
                    try skip(past: "]]>")
                    if element.text.utf8.count < 1 << 16 { element.text += String(decoding: bytes[start..<(at - 3)], as: UTF8.self) }
                    continue
                }
                if peek("<!") { throw fail("a declaration inside an element") }
                if bytes[at] == UInt8(ascii: "<") {
                    element.children.append(try self.element(depth: depth + 1))
                    continue
                }
                let text = try characters(until: UInt8(ascii: "<"))
                if element.text.utf8.count < 1 << 16 { element.text += text }
            }
        }
    }
}

/// Why an XML annotation file was refused.
public struct XMLRefusal: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// An image of an XML annotation file (VOC: one per file; CVAT: many), with its boxes in Cairn's terms.
public struct XMLImageBoxes: Sendable {
    public var name: String
    public var width: Int
    public var height: Int
    public var boxes: [Box]
}

/// Pascal VOC's annotation files: one `<annotation>` per image, `<size>` and `<object>`s with a
/// `<name>` and a `<bndbox>` of 1-based, inclusive pixel corners (`xmin`…`ymax`). Cairn's box is
/// x = xmin − 1, y = ymin − 1, width = xmax − x, height = ymax − y (detectron2's reading). VOC's
/// `occluded` is Cairn's flag; `truncated`, `difficult` and a `pose` other than Unspecified have no
/// place in Cairn's boxes, so a file with them is refused unless `dropFlags`.
public enum PascalVOC {
    public static func parse(_ data: Data, dropFlags: Bool = false) throws(XMLRefusal) -> XMLImageBoxes {
        let root = try XMLElement.parse(data)
        guard root.name == "annotation" else { throw XMLRefusal("the root element is <\(Printable.escaped(root.name))>, not <annotation>") }
        guard let filename = root.value("filename"), !filename.isEmpty else { throw XMLRefusal("no <filename>") }
        guard let size = root.first("size"), let width = size.value("width").flatMap({ Int($0) }), let height = size.value("height").flatMap({ Int($0) }),
              width > 0, height > 0 else { throw XMLRefusal("no <size> with a positive <width> and <height>") }
        var boxes: [Box] = []
        for (i, object) in root.all("object").enumerated() {
            let which = "object \(i + 1)"
            guard let name = object.value("name"), !name.isEmpty else { throw XMLRefusal("\(which) has no <name>") }
            do { try LabelClass.validate(name: name) } catch { throw XMLRefusal("\(which): class '\(Printable.escaped(name))': \(error)") }
            guard let bndbox = object.first("bndbox") else { throw XMLRefusal("\(which) has no <bndbox>") }
            let corners = ["xmin", "ymin", "xmax", "ymax"].map { bndbox.value($0).flatMap { Double($0) } }
            guard corners.allSatisfy({ $0?.isFinite == true }) else { throw XMLRefusal("\(which): <bndbox> needs numbers xmin, ymin, xmax, ymax") }
            let (xmin, ymin, xmax, ymax) = (corners[0]!, corners[1]!, corners[2]!, corners[3]!)
            let flagged = ["truncated", "difficult"].filter { object.value($0) == "1" } + (object.value("pose").map { ["", "Unspecified"].contains($0) ? [] : ["pose"] } ?? [])
            if !flagged.isEmpty && !dropFlags {
                throw XMLRefusal("\(which) is marked \(flagged.joined(separator: ", ")), which Cairn's boxes do not keep; --drop-flags imports it without")
            }
            let box = Box(className: name, x: xmin - 1, y: ymin - 1, width: xmax - (xmin - 1), height: ymax - (ymin - 1),
                          occluded: object.value("occluded") == "1")
            do { try box.check(imageWidth: width, imageHeight: height) } catch { throw XMLRefusal("\(which): \(error)") }
            boxes.append(box)
        }
        return XMLImageBoxes(name: filename, width: width, height: height, boxes: boxes)
    }

    /// One image's annotation file.
    static func xml(file: String, width: Int, height: Int, boxes: [Box]) -> String {
        func n(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v) }
        var out = "<annotation>\n  <filename>\(escaped(file))</filename>\n  <size><width>\(width)</width><height>\(height)</height><depth>3</depth></size>\n"
        for box in boxes {
            out += "  <object><name>\(escaped(box.className))</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>"
                + "<occluded>\(box.occluded ? 1 : 0)</occluded><bndbox><xmin>\(n(box.x + 1))</xmin><ymin>\(n(box.y + 1))</ymin>"
                + "<xmax>\(n(box.x + box.width))</xmax><ymax>\(n(box.y + box.height))</ymax></bndbox></object>\n"
        }
        return out + "</annotation>\n"
    }

    static func escaped(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }
}

/// CVAT's "CVAT for images 1.1" XML: `<annotations>` with one `<image name width height>` per image
/// and its `<box label xtl ytl xbr ybr occluded>` shapes. A rotated box, a box with attributes, and
/// other shapes (polygon, polyline, points, mask, tag) are refused — but a polygon with
/// `ignoreSegmentation`, which takes its bounding box.
public enum CVATImages {
    public static func parse(_ data: Data, ignoreSegmentation: Bool = false) throws(XMLRefusal) -> [XMLImageBoxes] {
        let root = try XMLElement.parse(data)
        guard root.name == "annotations" else { throw XMLRefusal("the root element is <\(Printable.escaped(root.name))>, not <annotations>") }
        if root.first("track") != nil { throw XMLRefusal("it holds <track>s (CVAT for video); export the task as CVAT for images 1.1") }
        var images: [XMLImageBoxes] = []
        for element in root.all("image") {
            guard let name = element.attributes["name"], !name.isEmpty, let width = element.attributes["width"].flatMap({ Int($0) }),
                  let height = element.attributes["height"].flatMap({ Int($0) }), width > 0, height > 0 else {
                throw XMLRefusal("image \(Printable.escaped(element.attributes["id"] ?? "?")) needs name, width and height")
            }
            let which = "image '\(Printable.escaped(name))'"
            var boxes: [Box] = []
            for (i, shape) in element.children.enumerated() {
                let at = "\(which), shape \(i + 1) (<\(Printable.escaped(shape.name))>)"
                guard let label = shape.attributes["label"] else { throw XMLRefusal("\(at) has no label") }
                do { try LabelClass.validate(name: label) } catch { throw XMLRefusal("\(at): class '\(Printable.escaped(label))': \(error)") }
                if !shape.all("attribute").isEmpty { throw XMLRefusal("\(at) has attributes, which Cairn's boxes do not keep") }
                var corners: [Double?]
                switch shape.name {
                case "box":
                    if let rotation = shape.attributes["rotation"], Double(rotation) != 0 { throw XMLRefusal("\(at) is rotated, which Cairn's boxes do not keep") }
                    corners = ["xtl", "ytl", "xbr", "ybr"].map { shape.attributes[$0].flatMap { Double($0) } }
                case "polygon" where ignoreSegmentation:
                    let points = (shape.attributes["points"] ?? "").split(separator: ";").map { $0.split(separator: ",").map { Double($0) } }
                    guard !points.isEmpty, points.allSatisfy({ $0.count == 2 && $0[0] != nil && $0[1] != nil }) else { throw XMLRefusal("\(at): points are not x,y;x,y") }
                    let xs = points.map { $0[0]! }, ys = points.map { $0[1]! }
                    corners = [xs.min(), ys.min(), xs.max(), ys.max()]
                case "polygon":
                    throw XMLRefusal("\(at) is a polygon, which Cairn's boxes do not keep; --ignore-segmentation takes its bounding box")
                default:
                    throw XMLRefusal("\(at) is not a box")
                }
                guard corners.allSatisfy({ $0?.isFinite == true }) else { throw XMLRefusal("\(at): corners are not numbers") }
                let box = Box(className: label, x: corners[0]!, y: corners[1]!, width: corners[2]! - corners[0]!, height: corners[3]! - corners[1]!,
                              occluded: shape.attributes["occluded"] == "1")
                do { try box.check(imageWidth: width, imageHeight: height) } catch { throw XMLRefusal("\(at): \(error)") }
                boxes.append(box)
            }
            images.append(XMLImageBoxes(name: name, width: width, height: height, boxes: boxes))
        }
        return images
    }

    /// The whole file for `images` (name, size, boxes) and the class list.
    static func xml(_ images: [(name: String, width: Int, height: Int, boxes: [Box])], classes: [String]) -> String {
        func n(_ v: Double) -> String { String(v) }
        var out = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<annotations>\n  <version>1.1</version>\n  <meta><task><labels>"
            + classes.map { "<label><name>\(PascalVOC.escaped($0))</name><type>rectangle</type><attributes></attributes></label>" }.joined()
            + "</labels></task></meta>\n"
        for (i, image) in images.enumerated() {
            out += "  <image id=\"\(i)\" name=\"\(PascalVOC.escaped(image.name))\" width=\"\(image.width)\" height=\"\(image.height)\">\n"
            for box in image.boxes {
                out += "    <box label=\"\(PascalVOC.escaped(box.className))\" source=\"manual\" occluded=\"\(box.occluded ? 1 : 0)\" "
                    + "xtl=\"\(n(box.x))\" ytl=\"\(n(box.y))\" xbr=\"\(n(box.x + box.width))\" ybr=\"\(n(box.y + box.height))\" z_order=\"0\"/>\n"
            }
            out += "  </image>\n"
        }
        return out + "</annotations>\n"
    }
}

extension Versioning {
    /// Imports Pascal VOC annotation files (a folder of `.xml`, or one file) or a CVAT for images
    /// 1.1 file as `annotator`'s box sets: each image is matched to an item as COCO's are (by
    /// imported path, else the one item whose path ends in the file name), its objects become one set.
    /// Missing classes are added. All or nothing.
    /// - Throws: `VersioningError.badAnnotations` naming the file and the image, object or shape.
    public func importBoxes(xml path: String, annotator: String, options: BoxImportOptions = BoxImportOptions()) throws -> BoxImportReport {
        if catalog.isReadOnly { throw CatalogError.readOnly(location: catalog.location) }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw VersioningError.badAnnotations(path: path, reason: "no such file or folder")
        }
        let files = isDirectory.boolValue
            ? (FileManager.default.enumerator(atPath: path)?.compactMap { $0 as? String } ?? []).filter { $0.lowercased().hasSuffix(".xml") }.sorted().map { path + "/" + $0 }
            : [path]
        guard !files.isEmpty else { throw VersioningError.badAnnotations(path: path, reason: "no .xml files in it (a Pascal VOC folder holds one .xml per image; a YOLO dataset is a folder with data.yaml beside images/ and labels/)") }
        var images: [(file: String, image: XMLImageBoxes)] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { throw VersioningError.badAnnotations(path: file, reason: "cannot read it") }
            do {
                let root = data.prefix(4096)
                if root.range(of: Data("<annotations".utf8)) != nil {
                    images += try CVATImages.parse(data, ignoreSegmentation: options.ignoreSegmentation).map { (file, $0) }
                } else {
                    images.append((file, try PascalVOC.parse(data, dropFlags: options.dropFlags)))
                }
            } catch {
                throw VersioningError.badAnnotations(path: file, reason: error.description)
            }
        }
        var report = BoxImportReport(file: path, annotator: annotator)
        report.images = images.count
        var classes: [String] = []
        for (_, image) in images { for box in image.boxes where !classes.contains(box.className) { classes.append(box.className) } }
        return try repository.withLock(exclusive: false) {
            try catalog.write { tx in
                let matcher = ItemMatcher(try tx.allItems())
                var matched: [(Item, BoxSet)] = []
                var fileOf: [Int64: String] = [:]
                for (file, image) in images {
                    let which = "image '\(Printable.escaped(image.name))'"
                    let item = try matcher.item(blobID: nil, paths: [], fileName: image.name) { VersioningError.badAnnotations(path: file, reason: "\(which) \($0)") }
                    if let other = fileOf.updateValue(file, forKey: item.id) {
                        throw VersioningError.badAnnotations(path: file, reason: "\(which) is annotated in \(Printable.escaped(other)) too")
                    }
                    guard (image.width, image.height) == (item.width, item.height) else {
                        throw VersioningError.badAnnotations(path: file, reason: "\(which) is \(image.width)x\(image.height) in the file but "
                                                             + "\(item.width)x\(item.height) in the repository")
                    }
                    matched.append((item, BoxSet(image.boxes)))
                }
                try recordBoxSets(tx, matched, classNames: classes, annotator: annotator, report: &report)
                return report
            }
        }
    }

    /// `export --format voc` (Annotations/<blob id>.xml, ImageSets/Main/<split>.txt, images/) and
    /// `--format cvat` (annotations.xml, images/): the resolved boxes of the items whose boxes
    /// resolve. Neither has a crowd flag: crowd boxes are left out, counted.
    func exportXML(_ row: SnapshotRecord, classes: [String], items all: [ItemRecord], format: ExportFormat, to target: String, force: Bool,
                   report: inout ExportReport) throws {
        let items = all.filter { $0.boxes?.resolved != nil }
        var crowd = 0, boxes = 0
        func kept(_ item: ItemRecord) -> [Box] {
            let all = item.boxes?.resolved?.boxes ?? []
            crowd += all.filter(\.crowd).count
            let rest = all.filter { !$0.crowd }
            boxes += rest.count
            return rest
        }
        if format == .voc {
            try makeDirectoryInside(target, "Annotations")
            try makeDirectoryInside(target, "ImageSets/Main")
            for item in items {
                let name = (fileName(item) as NSString).deletingPathExtension
                try write(PascalVOC.xml(file: fileName(item), width: item.width, height: item.height, boxes: kept(item)),
                          to: target + "/Annotations/\(name).xml", force: force)
            }
            for split in Split.allCases {
                let names = items.filter { $0.split == split }.map { (fileName($0) as NSString).deletingPathExtension + "\n" }.joined()
                try write(names, to: target + "/ImageSets/Main/\(split.rawValue).txt", force: force)
            }
            report.files.append(target + "/Annotations")
        } else {
            let images = items.map { (name: "images/" + fileName($0), width: $0.width, height: $0.height, boxes: kept($0)) }
            try write(CVATImages.xml(images, classes: classes), to: target + "/annotations.xml", force: force)
            report.files.append(target + "/annotations.xml")
        }
        report.items = items.count
        (report.boxes, report.crowdLeftOut, report.occludedDropped) = (boxes, crowd, 0)
    }
}

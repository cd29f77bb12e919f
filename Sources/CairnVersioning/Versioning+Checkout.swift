import CairnSupport
import CairnCatalog
import CairnStore
import Foundation
import Glibc
import Synchronization

/// How checkout arranges files.
public enum CheckoutLayout: String, Sendable, Codable, CaseIterable {
    /// `DIR/<split>/<class>/<blob-id>.<ext>` for items labeled with one class, every class folder
    /// in every split (PyTorch's `ImageFolder` then numbers classes alike in each), `DIR/classes.txt`;
    /// other items outside the split folders (`ImageFolderLayout`).
    case imagefolder
    /// `DIR/<blob-id>.<ext>`.
    case flat
    /// A snapshot's boxes as ultralytics reads them (what `export --format yolo` writes; files copied).
    case yolo
    /// A snapshot's boxes as COCO detection files with `images/` (what `export --format coco` writes).
    case coco
}

/// How checkout materialises a file.
public enum LinkMode: String, Sendable, Codable, CaseIterable {
    /// Copy-on-write clone of a loose object where the file system supports it, else a copy.
    case reflink
    /// A hard link to a loose object (made read-only so edits cannot corrupt the store).
    case hardlink
    /// A symbolic link to a loose object.
    case symlink
    /// Always write the bytes.
    case copy
}

public struct CheckoutOptions: Sendable {
    public var layout: CheckoutLayout
    public var link: LinkMode
    public var split: Split?
    /// Allow a non-empty target directory.
    public var force: Bool
    public var jobs: Int

    public init(layout: CheckoutLayout = .imagefolder, link: LinkMode = .reflink, split: Split? = nil,
                force: Bool = false, jobs: Int = 1) {
        self.layout = layout
        self.link = link
        self.split = split
        self.force = force
        self.jobs = max(1, jobs)
    }
}

public struct CheckoutReport: Sendable, Codable {
    public var snapshot: BlobID
    public var files = 0
    public var bytes: Int64 = 0
    /// Files made by reflink, hard link or symlink rather than by writing bytes.
    public var linked = 0
    /// With `--link hardlink` or `symlink`: files written out instead, because their objects are
    /// packed (small objects share pack files, which cannot be linked one object at a time).
    public var notLinked = 0
    public var manifest: String
    /// Items of the snapshot left out because their bytes were purged (`cairn purge`).
    public var purged = 0
    /// `classes.txt` (ImageFolder layout): one class a line, in index order.
    public var classes: String?
    public var seconds: Double = 0
}

/// Where the ImageFolder layout puts an item, and why the names cannot collide.
///
/// Items labeled with exactly one class go to `<split>/<class>/`, and every class has a folder in
/// every split, even an empty one, so a loader that numbers the folders of each split in sorted
/// order (PyTorch's `ImageFolder`) gives a class the same index in train, val and test — the
/// order of `classes.txt`, which is the snapshot's class order (UTF-8 byte order; class names that
/// would need escaping are refused when classes are made, so sorted folder names keep that order).
/// Everything else lives outside the split folders, where no loader mistakes it for a class:
/// `_unlabeled/<split>/`, `_conflict/<split>/`, and `_multi/<split>/<set>/` for sets of classes
/// other than one (names joined by `+`, a `+` inside a name written `%2B`; `_none` for the
/// empty set, which no set of two or more can spell).
enum ImageFolderLayout {
    static let unlabeled = "_unlabeled", conflict = "_conflict", multi = "_multi"

    /// The folder an item's file goes in, relative to the checkout.
    static func folder(_ item: ItemRecord) -> String {
        let split = item.split.rawValue
        guard let label = item.label else {
            return (item.conflict.isEmpty ? unlabeled : conflict) + "/" + split
        }
        if let name = label.single { return split + "/" + safeComponent(name) }
        let set = label.classes.isEmpty ? "_none"
            : label.classes.map { safeComponent($0).replacingOccurrences(of: "+", with: "%2B") }.joined(separator: "+")
        return multi + "/" + split + "/" + set
    }

    /// Every class folder of every split in `splits`: made even when empty.
    static func classFolders(_ classes: [String], splits: [Split]) -> [String] {
        splits.flatMap { split in [split.rawValue] + classes.map { split.rawValue + "/" + safeComponent($0) } }
    }
}

/// The name a class gets as a directory: '/' and '\' escaped, '.' and '..' and leading dots made
/// harmless, so no label can point a path outside the checkout.
func safeComponent(_ name: String) -> String {
    var out = ""
    for c in name.unicodeScalars {
        switch c {
        case "/": out += "%2F"
        case "\\": out += "%5C"
        case "%": out += "%25"
        case "\0": out += "%00"
        default: out.unicodeScalars.append(c)
        }
    }
    if out.hasPrefix(".") { out = "%2E" + out.dropFirst() }
    return out.isEmpty ? "%" : out
}

/// The file name of an item's bytes: `<blob-id>.<ext>`.
func fileName(_ item: ItemRecord) -> String { item.blobID.hex + (item.format == "jpeg" ? ".jpg" : ".png") }

extension Versioning {
    /// Materialises snapshot `ref` as files under `directory`, plus `cairn-manifest.jsonl`.
    ///
    /// Refuses a file, a non-empty directory (unless `force`), and any existing symbolic link on a
    /// path it writes, so it never writes outside `directory`. Every byte written is verified
    /// against its blob id on the way out.
    public func checkout(_ ref: String, to directory: String, options: CheckoutOptions = CheckoutOptions(),
                         progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) throws -> CheckoutReport {
        let started = Date()
        if options.layout == .yolo || options.layout == .coco {
            // The box layouts are the exports': one writer for both commands.
            guard options.split == nil else {
                throw VersioningError.badTarget(path: directory, reason: "--split goes with the imagefolder and flat layouts; yolo and coco lay out every split")
            }
            let exported = try export(ref, format: options.layout == .yolo ? .yolo : .coco, to: directory, force: options.force)
            return CheckoutReport(snapshot: exported.snapshot, files: exported.items, manifest: exported.files.first ?? directory,
                                  purged: exported.purged, seconds: Date().timeIntervalSince(started))
        }
        let row = try resolve(ref)
        let root = try tree.root(row.id)
        var (items, purged) = try readableItems(try tree.items(under: root.items))
        if let split = options.split { items = items.filter { $0.split == split } }
        let target = try prepareTarget(directory, force: options.force)
        var relative: [String] = []
        var directories: Set<String> = []
        if options.layout == .imagefolder {
            directories.formUnion(ImageFolderLayout.classFolders(root.classes, splits: options.split.map { [$0] } ?? Split.allCases))
        }
        for item in items {
            switch options.layout {
            case .flat, .yolo, .coco:  // the box layouts returned above
                relative.append(fileName(item))
            case .imagefolder:
                let folder = ImageFolderLayout.folder(item)
                var parent = ""
                for component in folder.split(separator: "/") {
                    parent += (parent.isEmpty ? "" : "/") + component
                    directories.insert(parent)
                }
                relative.append(folder + "/" + fileName(item))
            }
        }
        for dir in directories.sorted() { try makeDirectoryInside(target, dir) }
        var initial = CheckoutReport(snapshot: row.id, manifest: target + "/cairn-manifest.jsonl", purged: purged)
        if options.layout == .imagefolder {
            initial.classes = target + "/classes.txt"
            try writeNew(target + "/classes.txt", Data(root.classes.map { $0 + "\n" }.joined().utf8))
        }
        let report = Mutex(initial)
        let store = repository.store
        let total = items.count
        let (work, paths) = (items, relative)
        try Parallel.forEach(work.count, workers: options.jobs) { i in
            let written = try Self.materialise(work[i], at: target + "/" + paths[i], store: store, link: options.link, force: options.force)
            let done = report.withLock { r in
                r.files += 1
                r.bytes += written.bytes
                if written.linked { r.linked += 1 }
                if written.packed && (options.link == .hardlink || options.link == .symlink) { r.notLinked += 1 }
                return r.files
            }
            if done % 1000 == 0 { progress(done, total) }
        }
        try writeManifest(target + "/cairn-manifest.jsonl", ref: ref, snapshot: row.id, layout: options.layout,
                          items: items, paths: relative)
        progress(total, total)
        var out = report.withLock { $0 }
        out.seconds = Date().timeIntervalSince(started)
        return out
    }

    /// Checks and creates the checkout directory; returns its absolute path.
    func prepareTarget(_ directory: String, force: Bool) throws -> String {
        let target = (directory.hasPrefix("/") ? directory : FileManager.default.currentDirectoryPath + "/" + directory)
        var st = stat()
        if stat(target, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw VersioningError.badTarget(path: directory, reason: "exists and is not a directory") }
            let entries = try FileManager.default.contentsOfDirectory(atPath: target)
            if !entries.isEmpty && !force {
                throw VersioningError.badTarget(path: directory, reason: "is not empty (use --force to write into it anyway)")
            }
        } else {
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        }
        return target
    }

    /// Makes `root/relative` (each component a real directory, never a symbolic link).
    func makeDirectoryInside(_ root: String, _ relative: String) throws {
        var path = root
        for component in relative.split(separator: "/") {
            path += "/" + component
            var st = stat()
            if lstat(path, &st) == 0 {
                guard (st.st_mode & S_IFMT) == S_IFDIR else {
                    throw VersioningError.badTarget(path: path, reason: "exists and is not a directory (a symbolic link is never followed)")
                }
            } else {
                try FileOps.makeDirectory(path)
            }
        }
    }

    /// Writes or links one item's file: its size, whether it was linked, and whether its object
    /// is packed (so it could not be linked).
    ///
    /// A loose object is verified against its id before it is linked, as a copy is while it is
    /// written: a link to damaged bytes would hand them out as the image. (Root can still write
    /// through a hard link: the file is read-only, not immutable.)
    static func materialise(_ item: ItemRecord, at path: String, store: any BlobStore, link: LinkMode, force: Bool) throws
        -> (bytes: Int64, linked: Bool, packed: Bool)
    {
        if force {
            var st = stat()
            if lstat(path, &st) == 0 {
                guard (st.st_mode & S_IFMT) != S_IFDIR else { throw VersioningError.badTarget(path: path, reason: "is a directory") }
                try FileOps.remove(path)
            }
        }
        var packed = false
        if let files = store as? FileBlobStore, link != .copy {
            let loose = files.loosePath(item.blobID)
            if FileOps.exists(loose) {
                try files.verifyLoose(item.blobID)
                let size = Int64(try files.size(of: item.blobID))
                switch link {
                case .hardlink:
                    guard Glibc.link(loose, path) == 0 else { throw StoreError.fromErrno(errno, "link", path) }
                    return (size, true, false)
                case .symlink:
                    guard Glibc.symlink(loose, path) == 0 else { throw StoreError.fromErrno(errno, "symlink", path) }
                    return (size, true, false)
                case .reflink:
                    if try reflink(from: loose, to: path) { return (size, true, false) }
                case .copy:
                    break
                }
            } else {
                packed = true
            }
        }
        let data = try store.get(item.blobID)
        let mode: mode_t = link == .hardlink ? 0o444 : FileModes.file
        let file = try POSIXFile(path: path, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode)
        try file.writeAll(data)
        return (Int64(data.count), false, packed)
    }

    /// Creates `path` (never through a symbolic link) holding `data`; an existing file is replaced.
    func writeNew(_ path: String, _ data: Data) throws {
        if FileOps.exists(path) { try FileOps.remove(path) }
        let file = try POSIXFile(path: path, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW)
        try file.writeAll(data)
    }

    /// Clones `source` into a new file at `path` with FICLONE; false (and no file) when unsupported.
    static func reflink(from source: String, to path: String) throws -> Bool {
        let input = try POSIXFile(path: source, flags: O_RDONLY)
        let output = try POSIXFile(path: path, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW)
        let ficlone: UInt = 0x4004_9409
        if ioctl(output.fd, ficlone, input.fd) == 0 { return true }
        try FileOps.remove(path)
        return false
    }

    private func writeManifest(_ path: String, ref: String, snapshot: BlobID, layout: CheckoutLayout,
                               items: [ItemRecord], paths: [String]) throws {
        struct Header: Encodable { var cairn_checkout = 1; var snapshot: BlobID; var ref: String; var layout: CheckoutLayout }
        struct Line: Encodable {
            var file: String; var blob_id: BlobID; var path: String; var label: Label?; var split: Split
        }
        let encoder = JSONEncoder.sorted
        var out = try encoder.encode(Header(snapshot: snapshot, ref: ref, layout: layout)) + Data("\n".utf8)
        for (item, file) in zip(items, paths) {
            out += try encoder.encode(Line(file: file, blob_id: item.blobID, path: item.path, label: item.label, split: item.split))
            out += Data("\n".utf8)
        }
        try writeNew(path, out)
    }
}

import CairnCatalog
import CairnStore
import Foundation
import Glibc
import Synchronization

/// How checkout arranges files.
public enum CheckoutLayout: String, Sendable, Codable, CaseIterable {
    /// `DIR/<split>/<class>/<blob-id>.<ext>` (unlabeled items under `_unlabeled`).
    case imagefolder
    /// `DIR/<blob-id>.<ext>`.
    case flat
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
    public var manifest: String
    public var seconds: Double = 0
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
        let row = try resolve(ref)
        let root = try tree.root(row.id)
        var items = try tree.items(under: root.items)
        if let split = options.split { items = items.filter { $0.split == split } }
        let target = try prepareTarget(directory, force: options.force)
        var relative: [String] = []
        var directories: Set<String> = []
        for item in items {
            let path: String
            switch options.layout {
            case .flat: path = fileName(item)
            case .imagefolder:
                // A multi-label item goes in the folder of its set (`cat+dog`, `(none)`).
                let folder = item.split.rawValue + "/" + safeComponent(item.label?.description ?? "_unlabeled")
                directories.insert(item.split.rawValue)
                directories.insert(folder)
                path = folder + "/" + fileName(item)
            }
            relative.append(path)
        }
        for dir in directories.sorted() { try makeDirectoryInside(target, dir) }
        let report = Mutex(CheckoutReport(snapshot: row.id, manifest: target + "/cairn-manifest.jsonl"))
        let failure = Mutex<(any Error)?>(nil)
        let next = Atomic<Int>(0)
        let store = repository.store
        let total = items.count
        let (work, paths) = (items, relative)
        DispatchQueue.concurrentPerform(iterations: min(options.jobs, max(1, items.count))) { _ in
            while failure.withLock({ $0 == nil }) {
                let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard i < work.count else { return }
                do {
                    let (bytes, linked) = try Self.materialise(work[i], at: target + "/" + paths[i], store: store,
                                                               link: options.link, force: options.force)
                    let done = report.withLock { r in
                        r.files += 1
                        r.bytes += bytes
                        if linked { r.linked += 1 }
                        return r.files
                    }
                    if done % 1000 == 0 { progress(done, total) }
                } catch {
                    failure.withLock { if $0 == nil { $0 = error } }
                }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
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

    /// Writes or links one item's file; returns its size and whether it was linked.
    static func materialise(_ item: ItemRecord, at path: String, store: any BlobStore, link: LinkMode, force: Bool) throws
        -> (Int64, Bool)
    {
        if force {
            var st = stat()
            if lstat(path, &st) == 0 {
                guard (st.st_mode & S_IFMT) != S_IFDIR else { throw VersioningError.badTarget(path: path, reason: "is a directory") }
                try FileOps.remove(path)
            }
        }
        if let files = store as? FileBlobStore, link != .copy {
            let loose = files.loosePath(item.blobID)
            if FileOps.exists(loose) {
                switch link {
                case .hardlink:
                    guard Glibc.link(loose, path) == 0 else { throw StoreError.fromErrno(errno, "link", path) }
                    return (Int64(try files.size(of: item.blobID)), true)
                case .symlink:
                    guard Glibc.symlink(loose, path) == 0 else { throw StoreError.fromErrno(errno, "symlink", path) }
                    return (Int64(try files.size(of: item.blobID)), true)
                case .reflink:
                    if try reflink(from: loose, to: path) { return (Int64(try files.size(of: item.blobID)), true) }
                case .copy:
                    break
                }
            }
        }
        let data = try store.get(item.blobID)
        let mode: mode_t = link == .hardlink ? 0o444 : 0o644
        let file = try POSIXFile(path: path, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode)
        try file.writeAll(data)
        return (Int64(data.count), false)
    }

    /// Clones `source` into a new file at `path` with FICLONE; false (and no file) when unsupported.
    static func reflink(from source: String, to path: String) throws -> Bool {
        let input = try POSIXFile(path: source, flags: O_RDONLY)
        let output = try POSIXFile(path: path, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o644)
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
        if FileOps.exists(path) { try FileOps.remove(path) }
        let file = try POSIXFile(path: path, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o644)
        try file.writeAll(out)
    }
}

import CairnCatalog
import CairnStore
import CairnSupport
import Foundation
import Glibc

/// How a run's data is laid out on disk.
public enum MaterializeLayout: String, Sendable, Codable, CaseIterable {
    /// The ImageFolder checkout (`split/class/…`, every class folder in every split, `classes.txt`).
    case imagefolder
    /// WebDataset shards (`WebDataset`).
    case webdataset
    /// Boxes in ultralytics' layout (`export --format yolo`): `data.yaml`, `images/`, `labels/`.
    case yolo
    /// Boxes as COCO detection files (`export --format coco`): `images/`, `annotations/instances_<split>.json`.
    case coco
    /// No files: the program reads the snapshot some other way (the manifest and classes still come).
    case none
}

/// A snapshot materialized once in `.cairn/cache/materialized/`, for every run of it.
public struct Materialization: Sendable, Codable {
    public var snapshot: BlobID
    public var layout: MaterializeLayout
    /// The directory the data is in (nil for `none`).
    public var directory: String?
    /// One class a line, line order = class index.
    public var classes: String
    /// `cairn-manifest.jsonl` (ImageFolder) or `manifest.json` (WebDataset); for `none`, the
    /// snapshot's items as JSON lines.
    public var manifest: String
    /// WebDataset: each split's shard pattern (`train-{000000..000003}.tar`).
    public var shards: [String: String] = [:]
    /// True when an earlier run's materialization was reused.
    public var reused = false
    public var seconds = 0.0
}

extension Versioning {
    /// Where the materialization of `snapshot` in `layout` is kept (in the caller's private cache).
    public func materializationDirectory(_ snapshot: BlobID, layout: MaterializeLayout) throws -> String {
        try repository.derivedCache() + "/materialized/" + snapshot.hex + "-" + layout.rawValue
    }

    /// The materialization of `snapshot` in `layout`, made now unless an earlier one is there intact.
    ///
    /// It is built in a directory of its own and renamed into place only when whole, so a
    /// half-written one (a full disk, a killed process) is never reused; its files and directories
    /// are made read-only, and every file's size and modification time is recorded beside it. Before
    /// reuse the tree is compared with that record: a program that edited, added or deleted a file
    /// there gets it rebuilt, never poisoned data under a pinned snapshot id. Two runs materializing
    /// at once both build, and the second to finish uses the first's.
    /// - Complexity: a checkout or export of the snapshot the first time; a stat of each file after.
    public func materialize(_ snapshot: BlobID, layout: MaterializeLayout, jobs: Int = Parallel.cores,
                            progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) throws -> Materialization {
        let started = Date()
        let final = try materializationDirectory(snapshot, layout: layout)
        let listing = final + ".files"
        if FileOps.exists(final) {
            if let recorded = try? Data(contentsOf: URL(fileURLWithPath: listing)), recorded == Self.listing(of: final) {
                var found = try describe(snapshot, layout: layout, at: final)
                found.reused = true
                return found
            }
            try FileOps.removeTree(final)  // changed since it was made (or made before listings): rebuilt
            try FileOps.remove(listing)
        }
        let parent = (final as NSString).deletingLastPathComponent
        try FileOps.makeDirectories(parent)
        let building = parent + "/.building-" + FileOps.uniqueName()
        do {
            try FileOps.makeDirectory(building)
            switch layout {
            case .imagefolder:
                _ = try checkout(snapshot.hex, to: building, options: CheckoutOptions(layout: .imagefolder, force: true, jobs: jobs),
                                 progress: progress)
            case .webdataset:
                _ = try exportWebDataset(snapshot.hex, to: building, force: true, progress: progress)
            case .yolo, .coco:
                _ = try export(snapshot.hex, format: layout == .yolo ? .yolo : .coco, to: building, force: true)
                let root = try tree.root(snapshot)
                try writeNew(building + "/classes.txt", Data(root.classes.map { $0 + "\n" }.joined().utf8))
                if layout == .yolo {
                    // data.yaml names its own directory: where it ends up, not where it was built.
                    let yaml = try String(contentsOfFile: building + "/data.yaml", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
                        .map { $0.hasPrefix("path: ") ? "path: " + Self.yamlQuoted(final) : String($0) }.joined(separator: "\n")
                    try FileOps.remove(building + "/data.yaml")
                    try writeNew(building + "/data.yaml", Data(yaml.utf8))
                }
            case .none:
                let root = try tree.root(snapshot)
                try writeNew(building + "/classes.txt", Data(root.classes.map { $0 + "\n" }.joined().utf8))
                var lines = Data()
                for item in try readableItems(try tree.items(under: root.items)).items {
                    lines += try JSONEncoder.sorted.encode(item) + Data("\n".utf8)
                }
                try writeNew(building + "/items.jsonl", lines)
            }
            try Self.makeReadOnly(building)
            let files = Self.listing(of: building)
            try FileOps.syncFileSystem(building)  // durable before it is renamed into place
            if Glibc.rename(building, final) != 0 {
                let code = errno
                guard code == ENOTEMPTY || code == EEXIST else { throw StoreError.fromErrno(code, "rename", final) }
                try? FileOps.removeTree(building)  // another run finished first: use its
            } else {
                try FileOps.writeFile(files, to: listing)
            }
        } catch {
            try? FileOps.removeTree(building)
            throw error
        }
        var made = try describe(snapshot, layout: layout, at: final)
        made.seconds = Date().timeIntervalSince(started)
        return made
    }

    /// What is in a finished materialization directory.
    private func describe(_ snapshot: BlobID, layout: MaterializeLayout, at directory: String) throws -> Materialization {
        switch layout {
        case .imagefolder:
            return Materialization(snapshot: snapshot, layout: layout, directory: directory, classes: directory + "/classes.txt",
                                   manifest: directory + "/cairn-manifest.jsonl")
        case .webdataset:
            let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/manifest.json"))
            let manifest = try JSONDecoder().decode(WebDataset.Manifest.self, from: data)
            var shards: [String: String] = [:]
            for split in Split.allCases {
                if let pattern = WebDataset.pattern(manifest, split: split, in: directory) { shards[split.rawValue] = pattern }
            }
            return Materialization(snapshot: snapshot, layout: layout, directory: directory, classes: directory + "/classes.txt",
                                   manifest: directory + "/manifest.json", shards: shards)
        case .yolo:
            return Materialization(snapshot: snapshot, layout: layout, directory: directory, classes: directory + "/classes.txt",
                                   manifest: directory + "/data.yaml")
        case .coco:
            return Materialization(snapshot: snapshot, layout: layout, directory: directory, classes: directory + "/classes.txt",
                                   manifest: directory + "/annotations/instances_train.json")
        case .none:
            return Materialization(snapshot: snapshot, layout: layout, directory: nil, classes: directory + "/classes.txt",
                                   manifest: directory + "/items.jsonl")
        }
    }

    /// Makes every file and directory under `directory` read-only (`FileOps.removeTree` still deletes
    /// it), so a program cannot change its data without first deliberately changing the modes.
    static func makeReadOnly(_ directory: String) throws {
        var directories = [directory]
        if let walker = FileManager.default.enumerator(atPath: directory) {
            while let relative = walker.nextObject() as? String {
                let path = directory + "/" + relative
                var st = stat()
                guard lstat(path, &st) == 0 else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFREG: guard chmod(path, 0o444) == 0 else { throw StoreError.fromErrno(errno, "chmod", path) }
                case S_IFDIR: directories.append(path)
                default: continue
                }
            }
        }
        for path in directories.reversed() { guard chmod(path, 0o555) == 0 else { throw StoreError.fromErrno(errno, "chmod", path) } }
    }

    /// Every entry under `directory` with its kind, size and modification time (to the nanosecond),
    /// sorted: equal listings mean nothing was added, removed, edited or touched.
    static func listing(of directory: String) -> Data {
        var lines: [String] = []
        if let walker = FileManager.default.enumerator(atPath: directory) {
            while let relative = walker.nextObject() as? String {
                var st = stat()
                guard lstat(directory + "/" + relative, &st) == 0 else { continue }
                lines.append("\(relative)\t\(st.st_mode)\t\(st.st_size)\t\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)")
            }
        }
        return Data(lines.sorted().joined(separator: "\n").utf8)
    }
}

extension Versioning {
    /// Hashes every image of the caller's ImageFolder materializations against the blob id its
    /// manifest names; one that differs (edited in place with its size and time put back, which the
    /// listing check before reuse cannot see) loses its listing, so the next run rebuilds it.
    /// Returns the damaged directories. (`fsck` runs it; WebDataset shards are not hashed here.)
    /// - Complexity: reads every materialized byte once.
    public func verifyMaterializations() throws -> [String] {
        let base = try repository.derivedCache() + "/materialized"
        var damaged: [String] = []
        for name in ((try? FileOps.list(base)) ?? []).sorted() where name.hasSuffix("-imagefolder") {
            let directory = base + "/" + name
            guard FileOps.isRealDirectory(directory),
                  let text = try? String(contentsOfFile: directory + "/cairn-manifest.jsonl", encoding: .utf8) else { continue }
            let intact = text.split(separator: "\n").dropFirst().allSatisfy { line in
                guard let row = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let blob = row["blob_id"] as? String, let file = row["file"] as? String,
                      let bytes = FileManager.default.contents(atPath: directory + "/" + file) else { return false }
                return BlobID(hashing: bytes).hex == blob
            }
            if !intact {
                damaged.append(directory)
                try FileOps.remove(directory + ".files")
            }
        }
        return damaged
    }
}


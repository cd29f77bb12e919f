import CairnCatalog
import CairnImaging
import CairnStore
import CairnSupport
import Foundation
import Glibc
import Synchronization

/// How `cairn import` behaves.
public struct ImportOptions: Sendable {
    /// Label each image with the name of the folder it is in (ImageFolder layout).
    public var labelsFromDirectories: Bool
    /// A `path,label` CSV; its rows win over folder names.
    public var labelsFile: String?
    /// Let a file whose bytes are already an item under another path change that item's label
    /// (by default such files are listed in `ImportReport.duplicateLabels` and change nothing).
    public var relabel: Bool
    /// Parallel workers; defaults to the number of cores.
    public var jobs: Int
    /// Decode every image fully (true) or only read its header (false).
    public var verify: Bool
    /// Follow symbolic links that point outside the imported directory.
    public var followSymlinks: Bool
    /// Limits checked before decoding.
    public var limits: DecodeLimits
    /// Files per durable batch: the store is flushed and the catalog committed after each.
    public var batchFiles: Int
    /// Bytes per durable batch.
    public var batchBytes: Int
    /// The split of every new item (`import --split test`: bring in an existing test set), instead
    /// of the one the split policy draws.
    public var split: Split?

    public init(labelsFromDirectories: Bool = false, labelsFile: String? = nil, relabel: Bool = false,
                jobs: Int = ProcessInfo.processInfo.activeProcessorCount, verify: Bool = true,
                followSymlinks: Bool = false, limits: DecodeLimits = DecodeLimits(),
                batchFiles: Int = 8192, batchBytes: Int = 128 << 20) {
        self.labelsFromDirectories = labelsFromDirectories
        self.labelsFile = labelsFile
        self.relabel = relabel
        self.jobs = max(1, jobs)
        self.verify = verify
        self.followSymlinks = followSymlinks
        self.limits = limits
        self.batchFiles = batchFiles
        self.batchBytes = batchBytes
    }
}

/// What an import did. Every file seen is counted exactly once among
/// `added`, `duplicates`, `unchanged` and `rejected`.
public struct ImportReport: Sendable, Codable, Equatable {
    public var filesSeen = 0
    /// New items.
    public var added = 0
    /// Files whose content is already an item (same bytes under another path, or re-imported).
    public var duplicates = 0
    /// Files skipped because their (path, size, mtime, inode) matched the last import.
    public var unchanged = 0
    /// Items removed because the file they were imported from was edited in place: the new bytes
    /// replace them.
    public var replaced = 0
    /// Files refused, with reasons (also listed in `rejections`).
    public var rejected = 0
    /// Labels recorded for the `import` annotator.
    public var labeled = 0
    /// Bytes of new items.
    public var bytesAdded: Int64 = 0
    /// New items per split (by `--split`, or drawn by the `[splits]` ratios).
    public var addedPerSplit: [String: Int] = [:]
    public var rejections: [Rejection] = []
    /// Labels-file paths that matched no imported file.
    public var unmatchedLabelRows: [String] = []
    /// Files whose bytes are already an item under another path and whose folder or labels file
    /// gives another label: the item's label was left as it was (`--relabel` changes it).
    public var duplicateLabels: [DuplicateLabel] = []
    public var seconds: Double = 0

    public init() {}
}

/// A file whose bytes are already an item imported from another path, labeled differently.
public struct DuplicateLabel: Sendable, Codable, Equatable {
    /// The file as imported now (its path in the catalog's form).
    public var path: String
    /// Where the item was first imported from.
    public var existingPath: String
    public var blobID: BlobID
    /// The item's resolved label now (nil when unlabeled or in conflict).
    public var existingLabel: Label?
    /// The label this file's folder or labels-file row gives.
    public var label: Label
}

/// Progress of a running import, for progress bars.
public struct ImportProgress: Sendable {
    public var done: Int
    public var total: Int
    public var bytes: Int64
}

/// Imports image files into a repository: walk, skip unchanged, hash and validate in parallel,
/// store, and record items and labels in durable batches.
///
/// A batch's objects are flushed (durable) before the catalog transaction that references
/// them commits, so the catalog never names an object that is not on disk. Killing an import
/// loses at most the batch in flight; running it again continues where it stopped.
public struct Importer: Sendable {
    public let repository: Repository
    public let options: ImportOptions

    public init(repository: Repository, options: ImportOptions = ImportOptions()) {
        self.repository = repository
        self.options = options
    }

    private enum Outcome: Sendable {
        case image(HashedBlob, ImageInfo)
        case rejected(String)
    }

    private struct Candidate: Sendable {
        let file: WalkedFile
        let itemPath: String
        let label: Label?
        /// The bytes this file had when it was last imported (from the import cache), if it was.
        var previousBlob: BlobID? = nil
    }

    /// Imports every file under `paths` (directories or single files).
    @discardableResult
    public func run(paths: [String], progress: @escaping @Sendable (ImportProgress) -> Void = { _ in }) throws -> ImportReport {
        try repository.withLock(exclusive: false) { try runLocked(paths: paths, progress: progress) }
    }

    private func runLocked(paths: [String], progress: @escaping @Sendable (ImportProgress) -> Void) throws -> ImportReport {
        let started = Date()
        if repository.catalog.isReadOnly { throw CatalogError.readOnly(location: repository.catalog.location) }
        var report = ImportReport()
        // 1. Load the import cache on another core while walking, and decide each file's catalog path and label.
        let known = loadImportCache(roots: paths.map(Repository.absolute))
        let candidates = try walk(paths, report: &report)
        // 2. Skip files the import cache proves unchanged (and apply their changed labels).
        let (work, relabel) = try partition(candidates, known: known(), report: &report)
        progress(ImportProgress(done: 0, total: work.count, bytes: 0))
        if !relabel.isEmpty {
            let applied = try applyCachedLabels(relabel)
            report.labeled += applied.labeled
            report.duplicateLabels += applied.duplicates
        }
        // 3. Hash, decode and record the rest in durable batches.
        let (results, failure) = importInBatches(work, progress: progress)
        for result in results {
            report.added += result.added
            report.duplicates += result.duplicates
            report.replaced += result.replaced
            report.labeled += result.labeled
            report.duplicateLabels += result.duplicateLabels
            report.bytesAdded += result.bytesAdded
            report.addedPerSplit.merge(result.perSplit, uniquingKeysWith: +)
            report.rejections += result.rejections
            report.rejected += result.rejections.count
        }
        if let failure { throw failure }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    /// Starts reading what import remembers about files under `roots` on another core; the
    /// returned function waits for it.
    private func loadImportCache(roots: [String]) -> () throws -> [String: ImportState] {
        let catalog = repository.catalog
        let loaded = Worker("cairn.import.cache").start {
            try catalog.read { tx in
                var known: [String: ImportState] = [:]
                for root in roots {
                    if let state = try tx.importState(path: root) { known[root] = state }
                    try tx.importStates(under: root, into: &known)
                }
                return known
            }
        }
        return { try loaded.value() }
    }

    /// Every file under `paths` with its catalog path and the label import gives it (from its
    /// folder or the labels file); files whose label cannot be a class are rejected into `report`.
    private func walk(_ paths: [String], report: inout ImportReport) throws -> [Candidate] {
        let labelsFile = try options.labelsFile.map { try LabelsFile(contentsOf: $0) }
        var unmatched = Set(labelsFile?.labels.keys.map { $0 } ?? [])
        var candidates: [Candidate] = []
        for path in paths {
            let root = Repository.absolute(path)
            let walk = try FileWalker(followSymlinks: options.followSymlinks).walk(root: root)
            report.rejections += walk.rejections
            let isFile = walk.files.count == 1 && walk.files[0].absolutePath == root
            let base = itemPathBase(for: root, isFile: isFile)
            for file in walk.files {
                let itemPath = base.isEmpty ? file.relativePath : base + "/" + file.relativePath
                let label = self.label(of: file, itemPath: itemPath, labelsFile: labelsFile, unmatched: &unmatched)
                // A label that cannot be a class (a folder named with control characters, say)
                // rejects its file, not the import.
                if let label, let bad = Self.invalidClass(in: label) {
                    report.rejections.append(Rejection(path: file.absolutePath, reason: bad))
                    continue
                }
                candidates.append(Candidate(file: file, itemPath: itemPath, label: label))
            }
        }
        report.filesSeen = candidates.count + report.rejections.count
        report.rejected = report.rejections.count
        report.unmatchedLabelRows = unmatched.sorted()
        return candidates
    }

    /// The label import gives `file`: its labels-file row (by catalog path, relative or absolute
    /// path; the row is then no longer unmatched), else with `labelsFromDirectories` its folder's name.
    private func label(of file: WalkedFile, itemPath: String, labelsFile: LabelsFile?, unmatched: inout Set<String>) -> Label? {
        if let labelsFile {
            for key in [itemPath, file.relativePath, file.absolutePath] {
                if let fromFile = labelsFile.labels[key] {
                    unmatched.remove(key)
                    return Label(commaSeparated: fromFile)
                }
            }
        }
        guard options.labelsFromDirectories, let slash = file.relativePath.lastIndex(of: "/") else { return nil }
        let folder = file.relativePath[..<slash]
        return .one(String(folder[(folder.lastIndex(of: "/").map(folder.index(after:)) ?? folder.startIndex)...]))
    }

    /// Splits candidates into those to read and those the import cache proves unchanged; of the
    /// unchanged, those whose label changed are returned to be relabeled.
    private func partition(_ candidates: [Candidate], known: [String: ImportState],
                           report: inout ImportReport) throws -> (work: [Candidate], relabel: [(Candidate, BlobID)]) {
        var work: [Candidate] = []
        var relabel: [(Candidate, BlobID)] = []
        for var c in candidates {
            let state = known[c.file.absolutePath]
            if let state, state.size == c.file.size, state.mtimeNanoseconds == c.file.mtimeNanoseconds, state.inode == c.file.inode {
                report.unchanged += 1
                if let label = c.label, label.commaSeparated != state.label { relabel.append((c, state.blobID)) }
            } else {
                c.previousBlob = state?.blobID
                work.append(c)
            }
        }
        return (work, relabel)
    }

    /// Processes `work` in durable batches: batch i commits on a serial queue while batch i+1 is
    /// hashed and decoded, so the catalog work overlaps the decoding. Stops at the first failure.
    private func importInBatches(_ work: [Candidate], progress: @escaping @Sendable (ImportProgress) -> Void)
        -> (results: [BatchResult], failure: (any Error)?) {
        let total = work.count
        let committer = Worker("cairn.import.commit")
        let committed = Mutex<(results: [BatchResult], failure: (any Error)?, done: Int)>(([], nil, 0))
        var start = 0
        while start < work.count, committed.withLock({ $0.failure }) == nil {
            var end = start
            var bytes = 0
            while end < work.count && end - start < options.batchFiles && (bytes < options.batchBytes || end == start) {
                bytes += Int(work[end].file.size)
                end += 1
            }
            let batch = Array(work[start..<end])
            let outcomes = process(batch, doneBefore: start, total: total, progress: progress)
            committer.submit {
                do {
                    let result = try self.commit(batch, outcomes)
                    let (done, bytes) = committed.withLock { state in
                        state.results.append(result)
                        state.done += batch.count
                        return (state.done, state.results.reduce(0) { $0 + $1.bytesAdded })
                    }
                    progress(ImportProgress(done: done, total: total, bytes: bytes))
                } catch {
                    committed.withLock { if $0.failure == nil { $0.failure = error } }
                }
            }
            start = end
        }
        committer.wait()
        return committed.withLock { ($0.results, $0.failure) }
    }

    /// The prefix of catalog paths for files under `root`: relative to the repository when
    /// `root` is inside it, else the root's own name (so `import ~/x/digits` gives `digits/3/a.png`).
    private func itemPathBase(for root: String, isFile: Bool) -> String {
        let repoRoot = repository.root
        if root == repoRoot { return "" }
        if root.hasPrefix(repoRoot + "/") {
            let relative = String(root.dropFirst(repoRoot.count + 1))
            return isFile ? (relative as NSString).deletingLastPathComponent : relative
        }
        return isFile ? "" : (root as NSString).lastPathComponent
    }

    /// Reads, hashes and validates `batch` on `options.jobs` threads.
    private func process(_ batch: [Candidate], doneBefore: Int, total: Int,
                         progress: @escaping @Sendable (ImportProgress) -> Void) -> [Outcome] {
        let options = self.options
        let done = Atomic<Int>(0)
        return Parallel.map(batch.count, workers: options.jobs) { i in
            let outcome = Self.examine(batch[i].file, options: options)
            let finished = done.add(1, ordering: .relaxed).newValue
            if finished % 512 == 0 { progress(ImportProgress(done: doneBefore + finished, total: total, bytes: 0)) }
            return outcome
        }
    }

    /// Reads one file and decides whether it is an image worth importing.
    private static func examine(_ file: WalkedFile, options: ImportOptions) -> Outcome {
        let data: Data
        do {
            let handle = try POSIXFile(path: file.absolutePath, flags: O_RDONLY)
            let size = try handle.size()
            if size > UInt64(options.limits.maxPixels) * 8 + (64 << 20) {
                return .rejected("file is \(size) bytes, too large for an image within the decode limits")
            }
            data = try handle.read(count: Int(size), at: 0)
        } catch {
            if case .permissionDenied = error { return .rejected("permission denied") }
            return .rejected("cannot read: \(error)")
        }
        do {
            let info = options.verify ? try decodedInfo(data, options.limits) : try ImageCodec.probe(data)
            if !options.verify { try options.limits.check(info) }
            return .image(HashedBlob(data), info)
        } catch {
            return .rejected(error.description)
        }
    }

    private static func decodedInfo(_ data: Data, _ limits: DecodeLimits) throws(ImagingError) -> ImageInfo {
        let info = try ImageCodec.probe(data)
        try limits.check(info)
        let pixels = try ImageCodec.decode(data, limits: limits)
        return ImageInfo(format: info.format, width: pixels.width, height: pixels.height, channels: pixels.channels)
    }

    /// What one committed batch added.
    private struct BatchResult: Sendable {
        var added = 0, duplicates = 0, labeled = 0, replaced = 0
        var bytesAdded: Int64 = 0
        var perSplit: [String: Int] = [:]
        var rejections: [Rejection] = []
        var duplicateLabels: [DuplicateLabel] = []
    }

    /// Why `label` cannot be recorded (a name that cannot be a class), or nil.
    private static func invalidClass(in label: Label) -> String? {
        for name in label.classes {
            do { try LabelClass.validate(name: name) } catch { return "its label cannot be a class: \(error)" }
        }
        return nil
    }

    /// Records `label` from import for `item`, an item seen before, unless import already says so. A
    /// file whose bytes are an item first imported from another path, labeled otherwise, does not
    /// change that item's label unless `options.relabel`: it is returned as a duplicate instead (an
    /// item with no label yet simply takes it). True when a label was recorded.
    private func applyImportLabel(_ label: Label, to item: Item, from candidate: Candidate, importer: Annotator,
                                  classIDs: [Int64], at time: Date, _ tx: any CatalogTransaction,
                                  duplicates: inout [DuplicateLabel]) throws -> Bool {
        if try tx.latestLabel(itemID: item.id, annotatorID: importer.id) == label { return false }
        if item.path != candidate.itemPath, !options.relabel,
           let current = try tx.itemRecord(id: item.id)?.resolved, current != .unlabeled, current.label != label {
            duplicates.append(DuplicateLabel(path: candidate.itemPath, existingPath: item.path, blobID: item.blobID,
                                             existingLabel: current.label, label: label))
            return false
        }
        try tx.appendAnnotation(itemID: item.id, annotatorID: importer.id, classIDs: classIDs, at: time)
        return true
    }

    /// Stores one batch's blobs, flushes them, then records items, labels and cache rows in
    /// one catalog transaction. Bytes that were purged are refused, never stored again.
    private func commit(_ batch: [Candidate], _ examined: [Outcome]) throws -> BatchResult {
        let purges = try repository.catalog.read { try $0.purges() }
        let purged = Dictionary(purges.map { ($0.blob, $0) }, uniquingKeysWith: { a, _ in a })
        let outcomes = examined.map { outcome -> Outcome in
            guard case .image(let blob, _) = outcome, let purge = purged[blob.id] else { return outcome }
            return .rejected("its bytes were \(purge.summary); they are not imported again")
        }
        let store = repository.store
        do {
            for outcome in outcomes {
                if case .image(let blob, _) = outcome { try store.put(blob) }
            }
            try store.flush()
        } catch {
            store.discardPending()  // nothing of this batch stays staged (a full disk stays usable)
            throw error
        }
        let splits = try SplitAssigner(repository.config.splits)
        let now = Date()
        var result = try repository.catalog.write { tx -> BatchResult in
            var result = BatchResult()
            let importer = try tx.ensureAnnotator(Annotator.importName)
            var classIDs: [String: Int64] = [:]
            let images = zip(batch, outcomes).compactMap { candidate, outcome -> (Candidate, HashedBlob, ImageInfo)? in
                guard case .image(let blob, let info) = outcome else { return nil }
                return (candidate, blob, info)
            }
            // The batch's items, new labels and file states go to the catalog in one call each (a
            // networked catalog pays a round trip per call, not per image).
            let items = try tx.insertItems(images.map { candidate, blob, info in
                NewItem(blobID: blob.id, path: candidate.itemPath, format: info.format.rawValue, width: info.width,
                        height: info.height, byteSize: Int64(blob.data.count),
                        split: options.split ?? splits.split(for: blob.id, path: candidate.itemPath))
            }, addedAt: now)
            var newLabels: [NewAnnotation] = []
            var states: [ImportState] = []
            for ((candidate, blob, _), (item, isNew)) in zip(images, items) {
                if isNew {
                    result.added += 1
                    result.perSplit[item.split.rawValue, default: 0] += 1
                    result.bytesAdded += Int64(blob.data.count)
                    // This very file (same absolute path) was imported before with other bytes, as the item
                    // at this path: it was edited in place, and the new bytes replace that item (removed,
                    // not kept beside it). Another tree that happens to give the same path replaces nothing.
                    if let before = candidate.previousBlob, before != blob.id,
                       let stale = try tx.item(blobID: before), stale.path == candidate.itemPath,
                       try !tx.isRemoved(itemID: stale.id) {
                        try tx.setRemoved(itemIDs: [stale.id], removed: true, personID: importer.id, at: now, stamp: nil)
                        result.replaced += 1
                    }
                } else {
                    result.duplicates += 1
                }
                if let label = candidate.label {
                    let ids = try label.classes.map { name in
                        if let id = classIDs[name] { return id }
                        let id = try tx.ensureClass(name).id
                        classIDs[name] = id
                        return id
                    }
                    if isNew {
                        newLabels.append(NewAnnotation(itemID: item.id, personID: importer.id, classIDs: ids, at: now))
                        result.labeled += 1
                    } else {
                        // An item seen before is checked against its labels so far, this batch's included.
                        try tx.appendAnnotations(newLabels)
                        newLabels = []
                        if try applyImportLabel(label, to: item, from: candidate, importer: importer, classIDs: ids, at: now, tx,
                                                duplicates: &result.duplicateLabels) {
                            result.labeled += 1
                        }
                    }
                }
                states.append(ImportState(
                    path: candidate.file.absolutePath, size: candidate.file.size,
                    mtimeNanoseconds: candidate.file.mtimeNanoseconds, inode: candidate.file.inode,
                    blobID: blob.id, label: candidate.label?.commaSeparated))
            }
            try tx.appendAnnotations(newLabels)
            try tx.setImportStates(states)
            return result
        }
        for (candidate, outcome) in zip(batch, outcomes) {
            if case .rejected(let reason) = outcome {
                result.rejections.append(Rejection(path: candidate.file.absolutePath, reason: reason))
            }
        }
        return result
    }

    /// Applies labels that changed for files whose bytes did not (a new labels file).
    private func applyCachedLabels(_ pairs: [(Candidate, BlobID)]) throws -> (labeled: Int, duplicates: [DuplicateLabel]) {
        try repository.catalog.write { tx in
            let importer = try tx.ensureAnnotator(Annotator.importName)
            var labeled = 0
            var duplicates: [DuplicateLabel] = []
            for (candidate, blobID) in pairs {
                guard let label = candidate.label, let item = try tx.item(blobID: blobID) else { continue }
                if try applyImportLabel(label, to: item, from: candidate, importer: importer,
                                        classIDs: try tx.ensureClasses(label), at: Date(), tx, duplicates: &duplicates) {
                    labeled += 1
                }
                try tx.setImportState(ImportState(
                    path: candidate.file.absolutePath, size: candidate.file.size,
                    mtimeNanoseconds: candidate.file.mtimeNanoseconds, inode: candidate.file.inode,
                    blobID: blobID, label: label.commaSeparated))
            }
            return (labeled, duplicates)
        }
    }
}

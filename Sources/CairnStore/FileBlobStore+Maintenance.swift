import Foundation
import Glibc

extension FileBlobStore {
    /// One published pack, as gc sees it.
    public struct PackInfo: Sendable {
        public let name: String
        public let path: String
        public let modified: Date
        public let bytes: UInt64
        public let entries: [(id: BlobID, length: UInt64)]
    }

    /// Every published pack (one with an index).
    public func packInfos() throws -> [PackInfo] {
        var out: [PackInfo] = []
        for file in try FileOps.list(packsDir).sorted() where file.hasSuffix(".idx") {
            let name = String(file.dropLast(4))
            let index = try PackIndex(path: "\(packsDir)/\(file)", name: name)
            var st = stat()
            let pack = "\(packsDir)/\(name).pack"
            guard stat(pack, &st) == 0 else { continue }
            out.append(PackInfo(name: name, path: pack, modified: Date(timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec)),
                                bytes: UInt64(st.st_size), entries: index.entries.map { ($0.id, $0.length) }))
        }
        return out
    }

    /// Files in `tmp/`, and packs without an index, last modified before `date`: what crashed
    /// writers left behind.
    public func abandonedFiles(before date: Date) throws -> [String] {
        var out: [String] = []
        let indexed = Set(try FileOps.list(packsDir).filter { $0.hasSuffix(".idx") }.map { String($0.dropLast(4)) })
        for (dir, names) in [(tmpDir, try FileOps.list(tmpDir)), (packsDir, try FileOps.list(packsDir))] {
            for name in names {
                if dir == packsDir && (name.hasSuffix(".idx") || indexed.contains(String(name.dropLast(5)))) { continue }
                var st = stat()
                let path = "\(dir)/\(name)"
                if lstat(path, &st) == 0, Double(st.st_mtim.tv_sec) < date.timeIntervalSince1970 { out.append(path) }
            }
        }
        return out.sorted()
    }

    /// The modification time of a loose object file.
    public func modified(_ path: String) -> Date? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec))
    }

    /// Removes a pack: its index first (so no reader is sent to a missing pack), then its bytes.
    public func deletePack(_ name: String) throws {
        try FileOps.remove("\(packsDir)/\(name).idx")
        try FileOps.syncDirectory(packsDir)
        try FileOps.remove("\(packsDir)/\(name).pack")
        forgetPack(name)
    }

    /// Rewrites a pack keeping only `keep`, then deletes the old one. The new pack is durable and
    /// indexed before the old index goes, so every kept object stays readable throughout.
    public func repack(_ name: String, keeping keep: Set<BlobID>) throws {
        let old = try PackIndex(path: "\(packsDir)/\(name).idx", name: name)
        let file = try POSIXFile(path: "\(packsDir)/\(name).pack", flags: O_RDONLY)
        var kept: [HashedBlob] = []
        for entry in old.entries where keep.contains(entry.id) {
            let blob = HashedBlob(try file.read(count: Int(entry.length), at: entry.offset))
            guard blob.id == entry.id else { throw StoreError.corrupt(entry.id, location: "\(packsDir)/\(name).pack") }
            kept.append(blob)
        }
        try writeFreshPack(kept)
        try deletePack(name)
    }

    /// Deletes every copy of `ids` now, however recent (a purge): loose files are removed, and each
    /// pack holding one is rewritten without it (deleted when nothing else is in it). The caller
    /// holds the repository's exclusive lock. Returns the objects and bytes erased.
    public func erase(_ ids: Set<BlobID>) throws -> (objects: Int, bytes: Int64) {
        guard !ids.isEmpty else { return (0, 0) }
        try refreshPacks()
        var objects = 0, bytes: Int64 = 0
        for pack in try packInfos() {
            let doomed = pack.entries.filter { ids.contains($0.id) }
            guard !doomed.isEmpty else { continue }
            objects += doomed.count
            bytes += Int64(doomed.reduce(0) { $0 + $1.length })
            if doomed.count == pack.entries.count {
                try deletePack(pack.name)
            } else {
                try repack(pack.name, keeping: Set(pack.entries.map(\.id)).subtracting(ids))
            }
        }
        for id in ids.sorted() {
            let path = loosePath(id)
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            try FileOps.remove(path)
            objects += 1
            bytes += Int64(st.st_size)
        }
        return (objects, bytes)
    }
}

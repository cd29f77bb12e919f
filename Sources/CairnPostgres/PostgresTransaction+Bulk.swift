import CairnCatalog
import CairnStore
import Foundation
import PostgresNIO

/// Import's batches in one statement each (arrays unnested by the server) instead of one round
/// trip per item: on a network, round trips are what an import of many small images waits for.
extension PostgresTransaction {
    func insertItems(_ items: [NewItem], addedAt: Date) throws -> [(item: Item, isNew: Bool)] {
        guard !items.isEmpty else { return [] }
        let inserted = try rows("""
            INSERT INTO items (blob_id, path, format, width, height, byte_size, split, added_at)
            SELECT blob_id, path, format, width, height, byte_size, split, $8
            FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::text[])
                WITH ORDINALITY AS input(blob_id, path, format, width, height, byte_size, split, n)
            ORDER BY n
            ON CONFLICT (blob_id) DO NOTHING RETURNING id, blob_id
            """, [items.map(\.blobID.hex), items.map(\.path), items.map(\.format), items.map { Int64($0.width) },
                  items.map { Int64($0.height) }, items.map(\.byteSize), items.map(\.split.rawValue), addedAt.timeIntervalSince1970])
        var newIDs: [String: Int64] = [:]
        for row in inserted { newIDs[try row.get(1)] = try row.get(0) }
        let others = Set(items.map(\.blobID.hex)).subtracting(newIDs.keys)
        var existing: [String: Item] = [:]
        if !others.isEmpty {
            for row in try rows("SELECT \(Self.itemColumns) FROM items WHERE blob_id = ANY($1)", [Array(others)]) {
                let item = try Self.item(from: row)
                existing[item.blobID.hex] = item
            }
        }
        var out: [(item: Item, isNew: Bool)] = []
        out.reserveCapacity(items.count)
        for new in items {
            let hex = new.blobID.hex
            if let id = newIDs.removeValue(forKey: hex) {
                let item = Item(id: id, blobID: new.blobID, path: new.path, format: new.format, width: new.width, height: new.height,
                                byteSize: new.byteSize, split: new.split, addedAt: Date(timeIntervalSince1970: addedAt.timeIntervalSince1970))
                existing[hex] = item
                out.append((item, true))
            } else if let item = existing[hex] {
                out.append((item, false))
            } else {
                throw CatalogError.corrupt("item \(hex) was neither inserted nor found")
            }
        }
        return out
    }

    func setImportStates(_ states: [ImportState]) throws {
        // One row per path, the last given (ON CONFLICT may not touch a row twice in one statement).
        var last: [String: Int] = [:]
        for (index, state) in states.enumerated() { last[state.path] = index }
        let kept = states.indices.filter { last[states[$0].path] == $0 }.map { states[$0] }
        guard !kept.isEmpty else { return }
        try execute("""
            INSERT INTO import_state (path, size, mtime_ns, inode, blob_id, label, scope)
            SELECT path, size, mtime_ns, inode, blob_id, CASE WHEN labeled THEN label END, $8
            FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::boolean[])
                AS input(path, size, mtime_ns, inode, blob_id, label, labeled)
            ON CONFLICT (scope, path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, inode = excluded.inode,
                blob_id = excluded.blob_id, label = excluded.label
            """, [kept.map(\.path), kept.map(\.size), kept.map(\.mtimeNanoseconds), kept.map { Int64(bitPattern: $0.inode) },
                  kept.map(\.blobID.hex), kept.map { $0.label ?? "" }, kept.map { $0.label != nil }, scope])
    }

    func appendAnnotations(_ rows: [NewAnnotation]) throws {
        // Sets of several classes (or none) need their member rows: one by one, as appendLabel writes them.
        let isSingle = { (row: NewAnnotation) in (row.classIDs.map(Set.init)?.count ?? 1) == 1 }
        let single = rows.filter(isSingle), sets = rows.filter { !isSingle($0) }
        if !single.isEmpty {
            let classIDs = Set(single.compactMap { $0.classIDs?.first })
            let names = Dictionary(uniqueKeysWithValues: try self.rows("SELECT id, name FROM classes WHERE id = ANY($1)", [Array(classIDs)]).map {
                (try $0.get(0, Int64.self), try $0.get(1, String.self))
            })
            let stamps = try single.map { row -> String in
                let label = try row.classIDs?.first.map { id -> Label in
                    guard let name = names[id] else { throw CatalogError.notFound(kind: "class", name: "#\(id)") }
                    return .one(name)
                }
                return Self.hex(LabelOrder.stamp(at: row.at.timeIntervalSince1970, label: label))
            }
            // Class ids start at 1: 0 stands for "no class" (a skip) in the array.
            try execute("""
                INSERT INTO annotations (item_id, annotator_id, class_id, multi, created_at, stamp)
                SELECT item, person, nullif(class, 0), false, at, decode(stamp, 'hex')
                FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::double precision[], $5::text[]) WITH ORDINALITY
                    AS input(item, person, class, at, stamp, n)
                ORDER BY n
                """, [single.map(\.itemID), single.map(\.personID), single.map { $0.classIDs?.first ?? 0 },
                      single.map { $0.at.timeIntervalSince1970 }, stamps])
        }
        for row in sets {
            try appendLabel(.annotations, itemID: row.itemID, personID: row.personID, classIDs: row.classIDs, at: row.at, stamp: nil,
                            suggestion: nil)
        }
    }
}

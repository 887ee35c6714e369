import GRDB
import PostgresNIO

/// One table as `parley migrate` copies it: its columns (the same names in
/// both schemas) and the key it is read and resumed in order of.
struct CopiedTable: Sendable {
    enum Kind: Sendable { case int, text }

    /// A value on its way, typed even when NULL (PostgreSQL must know).
    enum Value: Sendable, Equatable {
        case int(Int64?)
        case text(String?)
    }

    let name: String
    let columns: [(name: String, kind: Kind)]
    /// The primary key's columns, in order.
    let key: [String]

    /// Referenced tables before the tables that refer to them.
    static let all: [CopiedTable] = [
        CopiedTable(name: "users", columns: [
            ("id", .int), ("public_id", .text), ("handle", .text), ("handle_key", .text), ("display_name", .text),
            ("display_key", .text), ("password_hash", .text), ("created_ts", .int), ("last_seen_ts", .int),
            ("external_id", .text), ("bot", .int), ("erased_ts", .int), ("email", .text),
        ], key: ["id"]),
        CopiedTable(name: "tokens", columns: [
            ("id", .text), ("user_id", .int), ("issued_ts", .int), ("expires_ts", .int), ("revoked_ts", .int),
        ], key: ["id"]),
        CopiedTable(name: "bans", columns: [("user_id", .int), ("until_ts", .int), ("created_ts", .int)], key: ["user_id"]),
        CopiedTable(name: "blocks", columns: [("blocker_id", .int), ("blocked_id", .int), ("created_ts", .int)],
                    key: ["blocker_id", "blocked_id"]),
        CopiedTable(name: "conversations", columns: [
            ("id", .int), ("public_id", .text), ("kind", .text), ("title", .text), ("owner_id", .int), ("direct_key", .text),
            ("last_seq", .int), ("created_ts", .int), ("last_activity_ts", .int), ("created_activity", .int), ("activity", .int),
        ], key: ["id"]),
        CopiedTable(name: "members", columns: [
            ("conversation_id", .int), ("user_id", .int), ("position", .int), ("joined_ts", .int), ("read_seq", .int),
            ("standing", .int), ("declined_ts", .int), ("role", .int),
        ], key: ["conversation_id", "user_id"]),
        CopiedTable(name: "invites", columns: [
            ("code", .text), ("conversation_id", .int), ("created_by", .int), ("created_ts", .int), ("expires_ts", .int),
            ("max_uses", .int), ("uses", .int), ("revoked_ts", .int),
        ], key: ["code"]),
        CopiedTable(name: "messages", columns: [
            ("conversation_id", .int), ("seq", .int), ("public_id", .text), ("sender_id", .int), ("text", .text),
            ("ts", .int), ("client_id", .text), ("activity", .int), ("deleted", .int),
        ], key: ["conversation_id", "seq"]),
    ]

    private var columnList: String { columns.map(\.name).joined(separator: ", ") }
    private var keyList: String { key.joined(separator: ", ") }
    private var keyKinds: [Kind] { key.map { name in columns.first { $0.name == name }!.kind } }

    /// The next `limit` rows of the SQLite table after `after` (a key), in key order.
    func page(_ db: Database, after: [Value]?, limit: Int) throws -> [[Value]] {
        var sql = "SELECT \(columnList) FROM \(name)"
        var arguments = StatementArguments()
        if let after {
            sql += " WHERE (\(keyList)) > (\(Array(repeating: "?", count: key.count).joined(separator: ", ")))"
            for value in after {
                switch value {
                case .int(let int): arguments += [int]
                case .text(let text): arguments += [text]
                }
            }
        }
        sql += " ORDER BY \(keyList) LIMIT \(limit)"
        return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
            columns.indices.map { index in
                switch columns[index].kind {
                case .int: .int(row[index] as Int64?)
                case .text: .text(row[index] as String?)
                }
            }
        }
    }

    func key(of row: [Value]) -> [Value] {
        key.map { name in row[columns.firstIndex { $0.name == name }!] }
    }

    /// The highest key already in the PostgreSQL table, if any.
    func lastKey(in postgres: PostgresConnection) async throws -> [Value]? {
        let descending = key.map { "\($0) DESC" }.joined(separator: ", ")
        guard let row = try await postgres.row(PostgresQuery(unsafeSQL: "SELECT \(keyList) FROM \(name) ORDER BY \(descending) LIMIT 1"))
        else { return nil }
        var values: [Value] = []
        for (cell, kind) in zip(row, keyKinds) {
            switch kind {
            case .int: values.append(.int(try cell.decode(Int64.self)))
            case .text: values.append(.text(try cell.decode(String.self)))
            }
        }
        return values
    }

    /// One multi-row INSERT for a batch; rows already there are skipped.
    func insert(_ rows: [[Value]]) -> PostgresQuery {
        var bindings = PostgresBindings(capacity: rows.count * columns.count)
        var tuples: [String] = []
        tuples.reserveCapacity(rows.count)
        for row in rows {
            var placeholders: [String] = []
            for (value, column) in zip(row, columns) {
                switch value {
                case .int(let int): bindings.append(int)
                case .text(let text): bindings.append(text)
                }
                placeholders.append("$\(bindings.count)::\(column.kind == .int ? "bigint" : "text")")
            }
            tuples.append("(" + placeholders.joined(separator: ", ") + ")")
        }
        let sql = "INSERT INTO \(name) (\(columnList)) VALUES \(tuples.joined(separator: ", ")) ON CONFLICT DO NOTHING"
        return PostgresQuery(unsafeSQL: sql, binds: bindings)
    }
}

import PostgresNIO

/// The write lane's statements that run in every batch, prepared once per
/// connection (PostgresNIO keeps them by name): a batch of appends then
/// costs no parse or plan, only the arrays it binds.
enum PostgresLaneStatements {
    /// Locks conversations' rows in key order and reads what a writer needs.
    struct LockConversations: PostgresPreparedStatement {
        static let sql = """
            SELECT id, public_id, kind, owner_id, last_seq, last_activity_ts, activity, state_version
            FROM conversations WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE
            """
        typealias Row = (Int64, String, String, Int64?, Int64, Int64, Int64, Int64)

        var keys: [Int64]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(keys)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row {
            try row.decode(Row.self)
        }
    }

    /// Inserts a batch's messages (a stored client_id is skipped, and the
    /// count tells), moves the conversations, and the senders' read marks.
    struct StoreMessages: PostgresPreparedStatement {
        static let sql = """
            WITH inserted AS (
                INSERT INTO messages (public_id, conversation_id, seq, sender_id, text, ts, client_id, activity)
                SELECT * FROM unnest(
                    $1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::bigint[], $7::text[], $8::bigint[])
                ON CONFLICT (conversation_id, sender_id, client_id) DO NOTHING
                RETURNING 1
            ), moved AS (
                UPDATE conversations c SET last_seq = u.last_seq, last_activity_ts = u.ts, activity = u.activity
                FROM unnest($9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[]) AS u (id, last_seq, ts, activity)
                WHERE c.id = u.id
                RETURNING 1
            ), read AS (
                UPDATE members m SET read_seq = GREATEST(m.read_seq, u.seq)
                FROM unnest($13::bigint[], $14::bigint[], $15::bigint[]) AS u (conversation_id, user_id, seq)
                WHERE m.conversation_id = u.conversation_id AND m.user_id = u.user_id
                RETURNING 1
            )
            SELECT (SELECT COUNT(*) FROM inserted)
            """
        typealias Row = Int64

        var publicIDs: [String] = []
        var conversations: [Int64] = []
        var seqs: [Int64] = []
        var senders: [Int64] = []
        var texts: [String] = []
        var times: [Int64] = []
        var clientIDs: [String] = []
        var activities: [Int64] = []
        var movedConversations: [Int64] = []
        var movedLastSeqs: [Int64] = []
        var movedTimes: [Int64] = []
        var movedActivities: [Int64] = []
        var readConversations: [Int64] = []
        var readUsers: [Int64] = []
        var readSeqs: [Int64] = []

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 15)
            bindings.append(publicIDs)
            bindings.append(conversations)
            bindings.append(seqs)
            bindings.append(senders)
            bindings.append(texts)
            bindings.append(times)
            bindings.append(clientIDs)
            bindings.append(activities)
            bindings.append(movedConversations)
            bindings.append(movedLastSeqs)
            bindings.append(movedTimes)
            bindings.append(movedActivities)
            bindings.append(readConversations)
            bindings.append(readUsers)
            bindings.append(readSeqs)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row {
            try row.decode(Int64.self)
        }
    }
}

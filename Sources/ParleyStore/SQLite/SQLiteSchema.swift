import GRDB
import ParleyCore

/// The SQLite schema, as an append-only list of migrations: never edit a
/// migration that has shipped, add a new one.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: accounts, tokens, conversations, messages") { db in
            try db.execute(sql: """
                CREATE TABLE users (
                    id INTEGER PRIMARY KEY,
                    public_id TEXT NOT NULL UNIQUE,
                    handle TEXT NOT NULL,
                    handle_key TEXT NOT NULL UNIQUE,
                    display_name TEXT NOT NULL,
                    password_hash TEXT NOT NULL,
                    created_ts INTEGER NOT NULL,
                    last_seen_ts INTEGER
                );

                CREATE TABLE tokens (
                    id TEXT PRIMARY KEY,
                    user_id INTEGER NOT NULL REFERENCES users(id),
                    issued_ts INTEGER NOT NULL,
                    expires_ts INTEGER NOT NULL,
                    revoked_ts INTEGER
                );
                CREATE INDEX tokens_revoked ON tokens(expires_ts) WHERE revoked_ts IS NOT NULL;

                CREATE TABLE conversations (
                    id INTEGER PRIMARY KEY,
                    public_id TEXT NOT NULL UNIQUE,
                    kind TEXT NOT NULL CHECK (kind IN ('direct', 'group')),
                    title TEXT,
                    owner_id INTEGER REFERENCES users(id),
                    -- "low:high" user row ids: one direct conversation per pair.
                    direct_key TEXT UNIQUE,
                    last_seq INTEGER NOT NULL DEFAULT 0,
                    created_ts INTEGER NOT NULL,
                    last_activity_ts INTEGER NOT NULL
                );

                CREATE TABLE members (
                    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
                    user_id INTEGER NOT NULL REFERENCES users(id),
                    -- Join order within the conversation: 1, 2, 3 …
                    position INTEGER NOT NULL,
                    joined_ts INTEGER NOT NULL,
                    read_seq INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (conversation_id, user_id)
                ) WITHOUT ROWID;
                CREATE INDEX members_by_user ON members(user_id, conversation_id);

                CREATE TABLE messages (
                    id INTEGER PRIMARY KEY,
                    public_id TEXT NOT NULL,
                    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
                    seq INTEGER NOT NULL,
                    sender_id INTEGER NOT NULL REFERENCES users(id),
                    text TEXT NOT NULL,
                    ts INTEGER NOT NULL,
                    client_id TEXT NOT NULL,
                    UNIQUE (conversation_id, seq),
                    UNIQUE (conversation_id, sender_id, client_id)
                );
                -- ts never decreases within a conversation, so this serves since_ts.
                CREATE INDEX messages_by_ts ON messages(conversation_id, ts);
                """)
        }
        migrator.registerMigration("v2: search keys, blocks") { db in
            try db.execute(sql: "ALTER TABLE users ADD COLUMN display_key TEXT NOT NULL DEFAULT ''")
            // Folded in Swift, not with SQL lower(), which knows only ASCII.
            let names = try Row.fetchAll(db, sql: "SELECT id, display_name FROM users")
            for row in names {
                try db.execute(
                    sql: "UPDATE users SET display_key = ? WHERE id = ?",
                    arguments: [SearchKey.fold(row[1]), row[0] as Int64])
            }
            try db.execute(sql: """
                CREATE INDEX users_by_display_key ON users(display_key, handle_key);

                CREATE TABLE blocks (
                    blocker_id INTEGER NOT NULL REFERENCES users(id),
                    blocked_id INTEGER NOT NULL REFERENCES users(id),
                    created_ts INTEGER NOT NULL,
                    PRIMARY KEY (blocker_id, blocked_id)
                ) WITHOUT ROWID;
                CREATE INDEX blocks_by_blocked ON blocks(blocked_id, blocker_id);
                """)
        }
        migrator.registerMigration("v3: bans") { db in
            try db.execute(sql: """
                CREATE TABLE bans (
                    user_id INTEGER PRIMARY KEY REFERENCES users(id),
                    until_ts INTEGER NOT NULL,
                    created_ts INTEGER NOT NULL
                );
                """)
        }
        migrator.registerMigration("v4: activity order") { db in
            // Stamps for rows written before: from their times, ties in one
            // millisecond broken by row id (commit order in SQLite).
            try db.execute(sql: """
                ALTER TABLE messages ADD COLUMN activity INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE conversations ADD COLUMN created_activity INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE conversations ADD COLUMN activity INTEGER NOT NULL DEFAULT 0;
                UPDATE messages SET activity = r.stamp FROM (
                    SELECT id, ts * 1000 + MIN(999, ROW_NUMBER() OVER (PARTITION BY ts ORDER BY id) - 1) AS stamp FROM messages
                ) r WHERE r.id = messages.id;
                UPDATE conversations SET created_activity = r.stamp FROM (
                    SELECT id, created_ts * 1000 + MIN(999, ROW_NUMBER() OVER (PARTITION BY created_ts ORDER BY id) - 1) AS stamp
                    FROM conversations
                ) r WHERE r.id = conversations.id;
                UPDATE conversations SET activity = COALESCE(
                    (SELECT MAX(m.activity) FROM messages m WHERE m.conversation_id = conversations.id), created_activity);
                """)
        }
        migrator.registerMigration("v5: chat requests") { db in
            // Everyone who was a member before is accepted (0); 1 is a
            // request, 2 a declined direct conversation (`Rows.standing`).
            try db.execute(sql: """
                ALTER TABLE members ADD COLUMN standing INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE members ADD COLUMN declined_ts INTEGER;
                """)
        }
        migrator.registerMigration("v6: external ids") { db in
            // The product's id for a user who signs in with its tokens; many
            // NULLs (password accounts) are allowed by a unique index.
            try db.execute(sql: """
                ALTER TABLE users ADD COLUMN external_id TEXT;
                CREATE UNIQUE INDEX users_by_external_id ON users(external_id);
                """)
        }
        migrator.registerMigration("v7: bots") { db in
            try db.execute(sql: "ALTER TABLE users ADD COLUMN bot INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v8: deleted messages, erased accounts") { db in
            try db.execute(sql: """
                ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE users ADD COLUMN erased_ts INTEGER;
                CREATE INDEX messages_by_sender ON messages(sender_id);
                """)
        }
        migrator.registerMigration("v9: roles, invites") { db in
            // 1: an admin; 0: a member (the owner is conversations.owner_id).
            try db.execute(sql: """
                ALTER TABLE members ADD COLUMN role INTEGER NOT NULL DEFAULT 0;

                CREATE TABLE invites (
                    code TEXT PRIMARY KEY,
                    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
                    created_by INTEGER NOT NULL REFERENCES users(id),
                    created_ts INTEGER NOT NULL,
                    expires_ts INTEGER,
                    max_uses INTEGER,
                    uses INTEGER NOT NULL DEFAULT 0,
                    revoked_ts INTEGER
                );
                CREATE INDEX invites_by_conversation ON invites(conversation_id);
                """)
        }
        migrator.registerMigration("v10: e-mail addresses, log-in codes") { db in
            // Codes are kept as keyed hashes; user_id NULL: signing in by the
            // address, else linking it to that user.
            try db.execute(sql: """
                ALTER TABLE users ADD COLUMN email TEXT;
                CREATE UNIQUE INDEX users_by_email ON users(email);

                CREATE TABLE login_codes (
                    id INTEGER PRIMARY KEY,
                    email TEXT NOT NULL,
                    user_id INTEGER REFERENCES users(id),
                    code_hash TEXT NOT NULL,
                    created_ts INTEGER NOT NULL,
                    expires_ts INTEGER NOT NULL,
                    tries INTEGER NOT NULL DEFAULT 0,
                    used_ts INTEGER
                );
                CREATE INDEX login_codes_by_email ON login_codes(email, id);
                """)
        }
        return migrator
    }
}

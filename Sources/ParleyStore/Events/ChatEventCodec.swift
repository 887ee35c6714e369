import NIOCore
import ParleyCore

/// `ChatEvent`s as bytes, to carry them between nodes (PostgreSQL's event
/// log).
///
/// A compact binary form rather than JSON: every message of a PostgreSQL
/// node is encoded once in its commit, so this is on the path of every
/// send. One version byte first, so that nodes of a newer release can
/// still read what older ones wrote while a cluster is upgraded.
public enum ChatEventCodec {
    /// 2: users carry their bot flag. 3: messages their deleted flag.
    /// 4: members their role.
    static let version: UInt8 = 4

    public struct Malformed: Error, CustomStringConvertible {
        public let description: String
    }

    /// The events of one transaction, in order, as one body: one row of the
    /// log per commit rather than per event.
    public static func encode(_ events: [ChatEvent]) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 64 + 256 * events.count)
        buffer.writeInteger(version)
        buffer.writeInteger(UInt32(events.count))
        for event in events { buffer.writeEvent(event) }
        return buffer
    }

    public static func decode(_ buffer: ByteBuffer) throws(Malformed) -> [ChatEvent] {
        var buffer = buffer
        guard let version: UInt8 = buffer.readInteger(), (1...Self.version).contains(version) else {
            throw Malformed(description: "events of an unknown version")
        }
        guard let count: UInt32 = buffer.readInteger(), Int(count) <= buffer.readableBytes else {
            throw Malformed(description: "events cut short")
        }
        var events: [ChatEvent] = []
        events.reserveCapacity(Int(count))
        for _ in 0..<count { events.append(try buffer.readEvent(version)) }
        guard buffer.readableBytes == 0 else { throw Malformed(description: "\(buffer.readableBytes) bytes after the events") }
        return events
    }
}

// The writing half: one method per type, in the order of its fields.
extension ByteBuffer {
    fileprivate mutating func writeEvent(_ event: ChatEvent) {
        switch event {
        case .messageStored(let message, let sender, let recipients, let blockedBy, let origin):
            writeInteger(UInt8(0))
            writeMessage(message)
            writeKey(sender)
            writeKeys(recipients)
            writeKeys(blockedBy)
            writeOptional(origin) { $0.writeText($1) }
        case .readMarkMoved(let mark, let reader, let receiptRecipients, let origin):
            writeInteger(UInt8(1))
            writeText(mark.conversationID)
            writeInteger(mark.lastSeq)
            writeInteger(mark.readSeq)
            writeInteger(mark.unreadFromBlocked)
            writeFlag(mark.isRequest)
            writeAccount(reader)
            writeKeys(receiptRecipients)
            writeOptional(origin) { $0.writeText($1) }
        case .conversationCreated(let conversation):
            writeInteger(UInt8(2))
            writeConversation(conversation)
        case .membershipChanged(let change):
            writeInteger(UInt8(3))
            writeInteger(change.kind.code)
            writeConversation(change.conversation)
            writeAccount(change.subject)
        case .typing(let conversationID, let typer, let recipients):
            writeInteger(UInt8(4))
            writeText(conversationID)
            writeUser(typer)
            writeKeys(recipients)
        case .presenceChanged(let user, let online, let lastSeenTS, let viewers):
            writeInteger(UInt8(5))
            writeUser(user)
            writeFlag(online)
            writeOptional(lastSeenTS) { $0.writeInteger($1) }
            writeKeys(viewers)
        case .tokenRevoked(let user, let tokenID):
            writeInteger(UInt8(6))
            writeKey(user)
            writeText(tokenID)
        case .userBanned(let user, let until):
            writeInteger(UInt8(7))
            writeKey(user)
            writeInteger(until)
        case .eventsMissed:
            writeInteger(UInt8(9))
        case .banLifted(let user):
            writeInteger(UInt8(10))
            writeKey(user)
        case .messagesUpdated(let messages, let recipients):
            writeInteger(UInt8(11))
            writeInteger(UInt32(messages.count))
            for message in messages { writeMessage(message) }
            writeKeys(recipients)
        case .userErased(let user):
            writeInteger(UInt8(12))
            writeKey(user)
        case .accountChanged(let account):
            writeInteger(UInt8(13))
            writeAccount(account)
        case .onlineChanged(let account, let online, let lastSeenTS, let contacts):
            writeInteger(UInt8(8))
            writeAccount(account)
            writeFlag(online)
            writeOptional(lastSeenTS) { $0.writeInteger($1) }
            writeKeys(contacts)
        }
    }

    private mutating func writeText(_ text: String) {
        writeInteger(UInt32(text.utf8.count))
        writeString(text)
    }

    private mutating func writeFlag(_ flag: Bool) { writeInteger(UInt8(flag ? 1 : 0)) }

    private mutating func writeOptional<T>(_ value: T?, _ write: (inout ByteBuffer, T) -> Void) {
        guard let value else { return writeFlag(false) }
        writeFlag(true)
        write(&self, value)
    }

    private mutating func writeKey(_ key: UserKey) { writeInteger(key.rawValue) }

    private mutating func writeKeys(_ keys: some Collection<UserKey>) {
        writeInteger(UInt32(keys.count))
        for key in keys { writeKey(key) }
    }

    private mutating func writeUser(_ user: User) {
        writeText(user.id)
        writeText(user.handle)
        writeText(user.displayName)
        writeFlag(user.bot)
    }

    private mutating func writeAccount(_ account: Account) {
        writeKey(account.key)
        writeUser(account.user)
    }

    private mutating func writeMessage(_ message: Message) {
        writeText(message.id)
        writeText(message.conversationID)
        writeInteger(message.seq)
        writeUser(message.sender)
        writeText(message.text)
        writeInteger(message.ts)
        writeText(message.clientID)
        writeFlag(message.deleted)
    }

    private mutating func writeConversation(_ conversation: Conversation) {
        writeText(conversation.id)
        writeText(conversation.kind.rawValue)
        writeOptional(conversation.title) { $0.writeText($1) }
        writeOptional(conversation.owner) { $0.writeUser($1) }
        writeInteger(UInt32(conversation.members.count))
        for member in conversation.members {
            writeAccount(member.account)
            writeInteger(member.readSeq)
            writeStanding(member.standing)
            writeInteger(member.unreadFromBlocked)
            writeKeys(member.seenElsewhereBy)
            writeInteger(member.role.code)
        }
        writeInteger(conversation.lastSeq)
        writeOptional(conversation.lastMessage) { $0.writeMessage($1) }
        writeInteger(conversation.createdTS)
        writeInteger(conversation.lastActivityTS)
        let pairs = conversation.blocks.allPairs
        writeInteger(UInt32(pairs.count))
        for pair in pairs {
            writeKey(pair.blocker)
            writeKey(pair.blocked)
        }
    }

    private mutating func writeStanding(_ standing: Standing) {
        switch standing {
        case .accepted: writeInteger(UInt8(0))
        case .request: writeInteger(UInt8(1))
        case .declined(let since):
            writeInteger(UInt8(2))
            writeInteger(since)
        }
    }
}

// The reading half, mirroring the writing one; anything short or unknown
// throws rather than guesses.
extension ByteBuffer {
    fileprivate typealias Malformed = ChatEventCodec.Malformed

    fileprivate mutating func readEvent(_ version: UInt8) throws(Malformed) -> ChatEvent {
        switch try read(UInt8.self) {
        case 0:
            return .messageStored(
                try readMessage(version), sender: try readKey(), recipients: try readKeys(), blockedBy: try readKeys(),
                origin: try readOptional { buffer throws(Malformed) in try buffer.readText() })
        case 1:
            let mark = ReadMark(
                conversationID: try readText(), lastSeq: try read(Int64.self), readSeq: try read(Int64.self),
                unreadFromBlocked: try read(Int64.self), isRequest: try readFlag())
            return .readMarkMoved(
                mark, reader: try readAccount(version), receiptRecipients: try readKeys(),
                origin: try readOptional { buffer throws(Malformed) in try buffer.readText() })
        case 2:
            return .conversationCreated(try readConversation(version))
        case 3:
            let kind = try MembershipChange.Kind(code: try read(UInt8.self))
            return .membershipChanged(MembershipChange(kind: kind, conversation: try readConversation(version), subject: try readAccount(version)))
        case 4:
            return .typing(conversationID: try readText(), typer: try readUser(version), recipients: try readKeys())
        case 5:
            return .presenceChanged(
                user: try readUser(version), online: try readFlag(),
                lastSeenTS: try readOptional { buffer throws(Malformed) in try buffer.read(Int64.self) }, viewers: try readKeys())
        case 6:
            return .tokenRevoked(user: try readKey(), tokenID: try readText())
        case 7:
            return .userBanned(try readKey(), until: try read(Int64.self))
        case 9:
            return .eventsMissed
        case 10:
            return .banLifted(try readKey())
        case 11:
            // A message is at least its five counts and numbers: 40 bytes.
            let count = try readCount(minimumSize: 40)
            var messages: [Message] = []
            for _ in 0..<count { messages.append(try readMessage(version)) }
            return .messagesUpdated(messages, recipients: try readKeys())
        case 12:
            return .userErased(try readKey())
        case 13:
            return .accountChanged(try readAccount(version))
        case 8:
            return .onlineChanged(
                try readAccount(version), online: try readFlag(),
                lastSeenTS: try readOptional { buffer throws(Malformed) in try buffer.read(Int64.self) }, contacts: try readKeys())
        case let tag:
            throw Malformed(description: "an event of unknown kind \(tag)")
        }
    }

    private mutating func read<T: FixedWidthInteger>(_: T.Type) throws(Malformed) -> T {
        guard let value: T = readInteger() else { throw Malformed(description: "an event cut short") }
        return value
    }

    private mutating func readText() throws(Malformed) -> String {
        let count = Int(try read(UInt32.self))
        guard let text = readString(length: count) else { throw Malformed(description: "a text cut short") }
        return text
    }

    private mutating func readFlag() throws(Malformed) -> Bool {
        switch try read(UInt8.self) {
        case 0: return false
        case 1: return true
        case let value: throw Malformed(description: "\(value) where a flag should be")
        }
    }

    private mutating func readOptional<T>(_ read: (inout ByteBuffer) throws(Malformed) -> T) throws(Malformed) -> T? {
        try readFlag() ? try read(&self) : nil
    }

    /// A count of items, each at least `minimumSize` bytes: a count the
    /// buffer cannot hold is refused before anything is allocated for it.
    private mutating func readCount(minimumSize: Int) throws(Malformed) -> Int {
        let count = Int(try read(UInt32.self))
        guard count * minimumSize <= readableBytes else { throw Malformed(description: "a list longer than its event") }
        return count
    }

    private mutating func readKey() throws(Malformed) -> UserKey { UserKey(try read(Int64.self)) }

    private mutating func readKeys() throws(Malformed) -> [UserKey] {
        let count = try readCount(minimumSize: 8)
        var keys: [UserKey] = []
        keys.reserveCapacity(count)
        for _ in 0..<count { keys.append(try readKey()) }
        return keys
    }

    private mutating func readUser(_ version: UInt8) throws(Malformed) -> User {
        User(id: try readText(), handle: try readText(), displayName: try readText(), bot: version >= 2 ? try readFlag() : false)
    }

    private mutating func readAccount(_ version: UInt8) throws(Malformed) -> Account {
        Account(key: try readKey(), user: try readUser(version))
    }

    private mutating func readMessage(_ version: UInt8) throws(Malformed) -> Message {
        Message(
            id: try readText(), conversationID: try readText(), seq: try read(Int64.self), sender: try readUser(version),
            text: try readText(), ts: try read(Int64.self), clientID: try readText(), deleted: version >= 3 ? try readFlag() : false)
    }

    private mutating func readConversation(_ version: UInt8) throws(Malformed) -> Conversation {
        let id = try readText()
        let kindName = try readText()
        guard let kind = ConversationKind(rawValue: kindName) else { throw Malformed(description: "a conversation of kind \(kindName)") }
        let title = try readOptional { buffer throws(Malformed) in try buffer.readText() }
        let owner = try readOptional { buffer throws(Malformed) in try buffer.readUser(version) }
        var members: [Member] = []
        for _ in 0..<(try readCount(minimumSize: 8)) {
            members.append(
                Member(
                    account: try readAccount(version), readSeq: try read(Int64.self), standing: try readStanding(),
                    unreadFromBlocked: try read(Int64.self), seenElsewhereBy: Set(try readKeys()),
                    role: version >= 4 ? try MemberRole(code: try read(UInt8.self)) : .member))
        }
        let lastSeq = try read(Int64.self)
        let lastMessage = try readOptional { buffer throws(Malformed) in try buffer.readMessage(version) }
        let createdTS = try read(Int64.self)
        let lastActivityTS = try read(Int64.self)
        var blocks = BlockSet()
        for _ in 0..<(try readCount(minimumSize: 16)) {
            blocks.insert(blocker: try readKey(), blocked: try readKey())
        }
        return Conversation(
            id: id, kind: kind, title: title, owner: owner, members: members, lastSeq: lastSeq, lastMessage: lastMessage,
            createdTS: createdTS, lastActivityTS: lastActivityTS, blocks: blocks)
    }

    private mutating func readStanding() throws(Malformed) -> Standing {
        switch try read(UInt8.self) {
        case 0: return .accepted
        case 1: return .request
        case 2: return .declined(since: try read(Int64.self))
        case let tag: throw Malformed(description: "a standing of unknown kind \(tag)")
        }
    }
}

extension MembershipChange.Kind {
    fileprivate var code: UInt8 {
        switch self {
        case .added: 0
        case .removed: 1
        case .accepted: 2
        case .declined: 3
        case .reopened: 4
        case .unchanged: 5
        case .roleChanged: 6
        }
    }

    fileprivate init(code: UInt8) throws(ChatEventCodec.Malformed) {
        switch code {
        case 0: self = .added
        case 1: self = .removed
        case 6: self = .roleChanged
        case 2: self = .accepted
        case 3: self = .declined
        case 4: self = .reopened
        case 5: self = .unchanged
        default: throw ChatEventCodec.Malformed(description: "a membership change of unknown kind \(code)")
        }
    }
}

extension MemberRole {
    fileprivate var code: UInt8 {
        switch self {
        case .owner: 0
        case .admin: 1
        case .member: 2
        }
    }

    fileprivate init(code: UInt8) throws(ChatEventCodec.Malformed) {
        switch code {
        case 0: self = .owner
        case 1: self = .admin
        case 2: self = .member
        case let code: throw ChatEventCodec.Malformed(description: "a role of unknown kind \(code)")
        }
    }
}

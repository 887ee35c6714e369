import NIOCore
import ParleyCore
import ParleyStore
import Testing

/// Events as bytes between nodes: what goes in comes out, and what is
/// damaged is refused, never guessed at.
@Suite("Events between nodes: the codec")
struct ChatEventCodecTests {
    static let ann = Account(key: UserKey(1), user: User(id: "u_ann", handle: "ann", displayName: "Ann Été 🌍"))
    static let ben = Account(key: UserKey(2), user: User(id: "u_ben", handle: "ben", displayName: ""))
    static let bot = Account(key: UserKey(3), user: User(id: "u_bot", handle: "deploys", displayName: "Deploys", bot: true))
    static let message = Message(
        id: "m_1", conversationID: "c_1", seq: 42, sender: ann.user, text: "hello\n\"there\" ✓", ts: 1_700_000_000_123, clientID: "c-42")

    static var conversation: Conversation {
        var blocks = BlockSet()
        blocks.insert(blocker: ben.key, blocked: ann.key)
        return Conversation(
            id: "c_1", kind: .group, title: "Team", owner: ann.user,
            members: [
                Member(account: ann, readSeq: 42, role: .owner),
                Member(account: ben, readSeq: 40, standing: .declined(since: 1_700_000_000_000), unreadFromBlocked: 2, seenElsewhereBy: [ann.key], role: .admin),
            ],
            lastSeq: 42, lastMessage: message, createdTS: 1_600_000_000_000, lastActivityTS: 1_700_000_000_123, blocks: blocks)
    }

    static let events: [ChatEvent] = [
        .messageStored(message, sender: ann.key, recipients: [ann.key, ben.key], blockedBy: [ben.key], origin: "s_abc"),
        .messageStored(message, sender: ann.key, recipients: [], blockedBy: [], origin: nil),
        .readMarkMoved(
            ReadMark(conversationID: "c_1", lastSeq: 42, readSeq: 41, unreadFromBlocked: 1, isRequest: true), reader: ben,
            receiptRecipients: [ann.key], origin: nil),
        .conversationCreated(conversation),
        .conversationCreated(
            Conversation(id: "c_2", kind: .direct, title: nil, owner: nil, members: [], lastSeq: 0, lastMessage: nil, createdTS: 5, lastActivityTS: 5)),
        .membershipChanged(MembershipChange(kind: .removed, conversation: conversation, subject: ben)),
        .membershipChanged(MembershipChange(kind: .reopened, conversation: conversation, subject: ann)),
        .membershipChanged(MembershipChange(kind: .roleChanged, conversation: conversation, subject: ben)),
        .typing(conversationID: "c_1", typer: ann.user, recipients: [ben.key]),
        .typing(conversationID: "c_1", typer: bot.user, recipients: [ben.key]),
        .messageStored(
            Message(id: "m_2", conversationID: "c_1", seq: 43, sender: bot.user, text: "deployed", ts: 1_700_000_000_124, clientID: "d-1"),
            sender: bot.key, recipients: [ann.key], blockedBy: [], origin: nil),
        .presenceChanged(user: ben.user, online: false, lastSeenTS: 1_700_000_000_999, viewers: [ann.key]),
        .presenceChanged(user: ben.user, online: true, lastSeenTS: nil, viewers: []),
        .onlineChanged(ben, online: false, lastSeenTS: 1_700_000_000_999, contacts: [ann.key]),
        .onlineChanged(ann, online: true, lastSeenTS: nil, contacts: []),
        .eventsMissed,
        .tokenRevoked(user: ann.key, tokenID: "t_1"),
        .userBanned(ben.key, until: 1_800_000_000_000),
        .banLifted(ben.key),
        .userErased(bot.key),
        .accountChanged(bot),
        .messagesUpdated(
            [Message(id: "m_3", conversationID: "c_1", seq: 7, sender: ann.user, text: "", ts: 5, clientID: "x", deleted: true), message],
            recipients: [ann.key, ben.key]),
        .messagesUpdated([], recipients: []),
    ]

    @Test("every kind of event comes back as it went in", arguments: events)
    func roundTrip(_ event: ChatEvent) throws {
        #expect(try ChatEventCodec.decode(ChatEventCodec.encode([event])) == [event])
    }

    @Test("a transaction's events, of every kind, come back in their order; none is none")
    func several() throws {
        #expect(try ChatEventCodec.decode(ChatEventCodec.encode(Self.events)) == Self.events)
        #expect(try ChatEventCodec.decode(ChatEventCodec.encode([])) == [])
    }

    @Test("an event cut short anywhere, or with bytes after it, or of another version, is refused")
    func damaged() throws {
        for event in Self.events {
            let whole = ChatEventCodec.encode([event])
            for length in 0..<whole.readableBytes {
                #expect(throws: ChatEventCodec.Malformed.self) { try ChatEventCodec.decode(whole.getSlice(at: 0, length: length)!) }
            }
            var longer = whole
            longer.writeInteger(UInt8(0))
            #expect(throws: ChatEventCodec.Malformed.self) { try ChatEventCodec.decode(longer) }
            var otherVersion = whole
            otherVersion.setInteger(UInt8(99), at: otherVersion.readerIndex)
            #expect(throws: ChatEventCodec.Malformed.self) { try ChatEventCodec.decode(otherVersion) }
        }
    }

    @Test("events written by a node of the release before (version 1, no bot flag) are still read")
    func versionOne() throws {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(1))  // version
        buffer.writeInteger(UInt32(1))  // one event
        buffer.writeInteger(UInt8(4))  // typing
        for text in ["c_1", "u_ann", "ann", "Ann"] {
            buffer.writeInteger(UInt32(text.utf8.count))
            buffer.writeString(text)
        }
        buffer.writeInteger(UInt32(1))  // recipients
        buffer.writeInteger(Int64(2))
        #expect(try ChatEventCodec.decode(buffer) == [
            .typing(conversationID: "c_1", typer: User(id: "u_ann", handle: "ann", displayName: "Ann"), recipients: [UserKey(2)]),
        ])
    }

    @Test("a list whose count is larger than the event is refused before anything is allocated for it")
    func hugeCount() throws {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(1))  // version
        buffer.writeInteger(UInt32(1))  // one event
        buffer.writeInteger(UInt8(4))  // typing
        buffer.writeInteger(UInt32(3))
        buffer.writeString("c_1")
        for text in ["u_ann", "ann", "Ann"] {
            buffer.writeInteger(UInt32(text.utf8.count))
            buffer.writeString(text)
        }
        buffer.writeInteger(UInt32.max)  // recipients
        #expect(throws: ChatEventCodec.Malformed.self) { try ChatEventCodec.decode(buffer) }
    }
}

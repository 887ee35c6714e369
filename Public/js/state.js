// The client's model: conversations, the messages held for them, own sends
// not acknowledged yet (the outbox), presence, typing and blocks. Views read
// `state` directly; what they show changes only through the functions here,
// and each change ends with changed() so the views re-render.

const TYPING_SHOWN_MS = 4_000;

const listeners = new Set();

export const state = {
  me: null,
  conversations: new Map(),
  listCursor: undefined, // undefined: first page not read yet; null: no more pages
  threads: new Map(), // conversation id → messages held (only for opened ones)
  outbox: [], // own sends without an ack, oldest first
  presence: new Map(), // user id → {online, last_seen_ts}
  typing: new Map(), // conversation id → Map(user id → timer)
  blocked: new Map(), // user id → user, the people I block
  openId: null,
};

export function subscribe(listener) {
  listeners.add(listener);
}

export function changed() {
  for (const listener of listeners) listener();
}

export function setMe(user) {
  state.me = user;
  changed();
}

export function resetState(me) {
  for (const timers of state.typing.values()) for (const timer of timers.values()) clearTimeout(timer);
  Object.assign(state, {
    me,
    conversations: new Map(),
    listCursor: undefined,
    threads: new Map(),
    outbox: [],
    presence: new Map(),
    typing: new Map(),
    blocked: new Map(),
    openId: null,
  });
  changed();
}

// ---- Conversations -------------------------------------------------------

export const isMine = (message) => message.sender.id === state.me.id;
export const otherMembers = (conv) => conv.members.filter((m) => m.user.id !== state.me.id);
// The server's `unread`, kept current between its answers (see recountUnread).
export const unreadCount = (conv) => conv.unread ?? 0;
// A chat request for us (§5.11): shown apart, with Accept, Decline and Block.
export const isRequest = (conv) => conv.request === true;

// Like the server (§5.3): own messages and those of people we block
// (marked sender_blocked) are never unread.
const countsAsUnread = (message) => !isMine(message) && !message.sender_blocked;

// Our role in a conversation (§9.4): "owner", "admin" or "member". A copy
// from an older server has no roles: its owner_id still names the owner.
export function myRole(conv) {
  const role = conv.members.find((m) => m.user.id === state.me.id)?.role;
  return role ?? (conv.kind === 'group' && conv.owner_id === state.me.id ? 'owner' : 'member');
}

// The owner and admins of a group add members, make invites and delete
// anyone's messages.
export const canManage = (conv) => conv.kind === 'group' && myRole(conv) !== 'member';

// Our own messages, and any message of a group we manage; a deleted one
// has nothing left to delete.
export const canDelete = (conv, message) => !message.deleted && (isMine(message) || canManage(conv));

// Who brought us into a request: the other person of a direct
// conversation, the owner of a group. Null when no one is left to name.
export function requestStarter(conv) {
  if (conv.kind === 'direct') return otherMembers(conv)[0]?.user ?? null;
  return conv.members.find((m) => m.user.id === conv.owner_id)?.user ?? null;
}

export function conversationTitle(conv) {
  if (conv.kind === 'group') return conv.title;
  return otherMembers(conv)[0]?.user.display_name ?? 'Just you';
}

// Newest activity first (§5.6). The sort is stable, so ties keep the order
// the server listed them in.
export function sortedConversations() {
  return [...state.conversations.values()].sort((a, b) => b.last_activity_ts - a.last_activity_ts);
}

// Our unread count after our read mark or last_seq moved without the server
// telling us the new count: counted from the messages we hold, where we hold
// them (a seq we do not hold counts, as it would on the server unless its
// sender is blocked); otherwise it can only shrink with what is left.
function recountUnread(conv) {
  if (conv.read_seq >= conv.last_seq) {
    conv.unread = 0;
    return;
  }
  const held = thread(conv.id);
  if (!held) {
    conv.unread = Math.min(conv.unread ?? 0, conv.last_seq - conv.read_seq);
    return;
  }
  let unread = 0;
  for (let seq = conv.read_seq + 1; seq <= conv.last_seq; seq += 1) {
    const message = held.bySeq.get(seq);
    if (!message || countsAsUnread(message)) unread += 1;
  }
  conv.unread = unread;
}

// A fetched copy can be older than what live events already told us, so
// counters and read marks only move forward.
export function upsertConversation(fresh) {
  const old = state.conversations.get(fresh.id);
  fresh.unread ??= 0;
  if (old) {
    // Events newer than this copy, or our own reading, moved our counters
    // past it: start from our count, and count again below.
    const stale = old.last_seq > fresh.last_seq || old.read_seq > fresh.read_seq;
    if (old.last_seq > fresh.last_seq) fresh.unread = old.unread;
    fresh.last_seq = Math.max(fresh.last_seq, old.last_seq);
    fresh.read_seq = Math.max(fresh.read_seq, old.read_seq);
    if (old.last_message && old.last_message.seq > (fresh.last_message?.seq ?? 0)) {
      fresh.last_message = old.last_message;
      fresh.last_activity_ts = Math.max(fresh.last_activity_ts, old.last_activity_ts);
    }
    for (const member of fresh.members) {
      const before = old.members.find((m) => m.user.id === member.user.id);
      member.read_seq = Math.max(member.read_seq ?? 0, before?.read_seq ?? 0);
    }
    if (stale) recountUnread(fresh);
  }
  for (const member of fresh.members) {
    const known = state.presence.get(member.user.id);
    state.presence.set(member.user.id, {
      online: member.online,
      last_seen_ts: member.online ? null : known?.last_seen_ts ?? null,
    });
  }
  state.conversations.set(fresh.id, fresh);
  changed();
}

export function removeConversation(id) {
  state.conversations.delete(id);
  state.threads.delete(id);
  state.outbox = state.outbox.filter((p) => p.conversationId !== id);
  clearTyping(id);
  if (state.openId === id) state.openId = null;
  changed();
}

// A conversation's entry in `ready`: its newest seq, exactly our read mark
// (ours may be ahead of what reached the server before a disconnect), our
// unread count, and whether it is (still) a request for us.
export function applyReadyEntry(conv, entry) {
  conv.last_seq = Math.max(conv.last_seq, entry.last_seq);
  conv.request = entry.request === true;
  setReadSeq(conv.id, entry.read_seq, { exact: true, unread: entry.unread });
}

// Our read mark, from ready, read_state (both with the server's unread
// count for it) or our own reading.
export function setReadSeq(convId, readSeq, { exact = false, unread } = {}) {
  const conv = state.conversations.get(convId);
  if (!conv) return;
  conv.read_seq = exact ? readSeq : Math.max(conv.read_seq, readSeq);
  const me = conv.members.find((m) => m.user.id === state.me.id);
  if (me) me.read_seq = Math.max(me.read_seq ?? 0, conv.read_seq);
  // The server's count holds for its mark; if ours is elsewhere, count.
  if (unread !== undefined && conv.read_seq === readSeq) conv.unread = unread;
  else recountUnread(conv);
  changed();
}

// Another member's read mark (receipt event).
export function setMemberReadSeq(convId, userId, seq) {
  const member = state.conversations.get(convId)?.members.find((m) => m.user.id === userId);
  if (!member) return;
  member.read_seq = Math.max(member.read_seq ?? 0, seq);
  changed();
}

// How many other members have read up to seq, for the ticks on own messages.
export function readCount(conv, seq) {
  const others = otherMembers(conv);
  return { read: others.filter((m) => (m.read_seq ?? 0) >= seq).length, of: others.length };
}

// ---- Messages ------------------------------------------------------------

function thread(convId) {
  return state.threads.get(convId);
}

// Starts holding messages for a conversation, from its newest page.
export function startThread(convId, messages, hasOlder) {
  const first = messages[0]?.seq ?? 1;
  state.threads.set(convId, { bySeq: new Map(), oldest: first, local: first - 1, hasOlder });
  addMessages(convId, messages);
}

// Adds messages (any order, duplicates ignored) and updates the conversation.
// Returns true when a seq gap is left above the contiguous part.
export function addMessages(convId, messages) {
  const conv = state.conversations.get(convId);
  const held = thread(convId);
  for (const message of messages) {
    if (conv) noteMessage(conv, message);
    if (message.client_id) dropPending(message.client_id);
    clearTypingOf(convId, message.sender.id);
    const known = held?.bySeq.get(message.seq);
    // A copy fetched again may say it was deleted since (while we were away).
    if (known) {
      if (message.deleted && !known.deleted) held.bySeq.set(message.seq, keepingOurs(known, message));
      continue;
    }
    // Far below what we hold: it will come back when scrolling up.
    if (!held || message.seq < held.oldest - 1) continue;
    held.bySeq.set(message.seq, message);
  }
  if (held) {
    while (held.bySeq.has(held.oldest - 1)) held.oldest -= 1;
    while (held.bySeq.has(held.local + 1)) held.local += 1;
  }
  changed();
  return Boolean(held && conv && conv.last_seq > held.local);
}

// Older page, scrolled back to: it ends right below the oldest held seq.
export function addOlderMessages(convId, messages, hasOlder) {
  const held = thread(convId);
  if (!held) return;
  for (const message of messages) if (!held.bySeq.has(message.seq)) held.bySeq.set(message.seq, message);
  if (messages.length) held.oldest = Math.min(held.oldest, messages[0].seq);
  held.hasOlder = hasOlder;
  changed();
}

// A stored message changed (message_updated, §4.5: today only deletes):
// it replaces the one with its seq, wherever we show it. Seqs we do not hold
// come with the change when they are fetched.
export function replaceMessage(message) {
  const conv = state.conversations.get(message.conversation_id);
  if (!conv) return;
  const held = thread(conv.id);
  const known = held?.bySeq.get(message.seq);
  if (known) held.bySeq.set(message.seq, keepingOurs(known, message));
  if (conv.last_message?.seq === message.seq) conv.last_message = keepingOurs(conv.last_message, message);
  changed();
}

// Our own delete, shown at once; the server's message_updated for it
// changes nothing more.
export function markDeleted(convId, seq) {
  const known = thread(convId)?.bySeq.get(seq);
  if (known) replaceMessage({ ...known, text: '', deleted: true });
}

// The update is the same for every reader: what was only ours to see
// (client_id, which keys our own rows; sender_blocked) stays from our copy.
function keepingOurs(known, message) {
  const merged = { ...message };
  if (known.client_id) merged.client_id = known.client_id;
  if (known.sender_blocked) merged.sender_blocked = true;
  return merged;
}

function noteMessage(conv, message) {
  // Only a seq beyond last_seq is new (others came in ready or a fetched
  // copy and were counted there). Seqs skipped to reach it are unknown, so
  // they count, as they would on the server unless their sender is blocked.
  if (message.seq > conv.last_seq) {
    const unseen = message.seq - Math.max(conv.last_seq, conv.read_seq);
    if (unseen > 0) conv.unread = (conv.unread ?? 0) + unseen - (countsAsUnread(message) ? 0 : 1);
  }
  conv.last_seq = Math.max(conv.last_seq, message.seq);
  if (!conv.last_message || message.seq >= conv.last_message.seq) {
    conv.last_message = message;
    conv.last_activity_ts = Math.max(conv.last_activity_ts, message.ts);
  }
  // Sending moves the sender's read mark to the message (§5.3).
  const sender = conv.members.find((m) => m.user.id === message.sender.id);
  if (sender) sender.read_seq = Math.max(sender.read_seq ?? 0, message.seq);
  if (isMine(message)) conv.read_seq = Math.max(conv.read_seq, message.seq);
  if (conv.read_seq >= conv.last_seq) conv.unread = 0;
}

// Messages held for a conversation in seq order, then its pending sends.
export function messagesOf(convId) {
  const held = thread(convId);
  const stored = held ? [...held.bySeq.values()].sort((a, b) => a.seq - b.seq) : [];
  return { stored, pending: state.outbox.filter((p) => p.conversationId === convId) };
}

// ---- Outbox --------------------------------------------------------------

export function addPending(conversationId, text) {
  const pending = {
    clientId: crypto.randomUUID(),
    conversationId,
    text,
    ts: Date.now(),
    status: 'pending', // or 'failed'
    error: null,
    inFlight: false,
    notBefore: 0, // performance.now() time before which it must not be sent
  };
  state.outbox.push(pending);
  changed();
  return pending;
}

export function findPending(clientId) {
  return state.outbox.find((p) => p.clientId === clientId);
}

function dropPending(clientId) {
  const index = state.outbox.findIndex((p) => p.clientId === clientId);
  if (index >= 0) state.outbox.splice(index, 1);
}

// The person gave up on a failed send.
export function discardPending(clientId) {
  dropPending(clientId);
  changed();
}

// The server stored it: it becomes an ordinary message with its seq.
export function acknowledge(pending, ack) {
  dropPending(pending.clientId);
  // Our first message into a request accepts it (§5.11); the server's
  // `accepted` event says so too, this only makes sure.
  const conv = state.conversations.get(ack.conversation_id);
  if (conv) conv.request = false;
  const message = {
    id: ack.message_id,
    conversation_id: ack.conversation_id,
    seq: ack.seq,
    sender: state.me,
    text: pending.text,
    ts: ack.ts,
    client_id: pending.clientId,
  };
  return addMessages(ack.conversation_id, [message]);
}

export function setPendingStatus(pending, status, error = null) {
  pending.status = status;
  pending.error = error;
  changed();
}

// ---- Presence, typing, blocks --------------------------------------------

export function setPresence(userId, online, lastSeenTs) {
  state.presence.set(userId, { online, last_seen_ts: lastSeenTs });
  changed();
}

export function setTyping(convId, userId) {
  if (!state.typing.has(convId)) state.typing.set(convId, new Map());
  const timers = state.typing.get(convId);
  clearTimeout(timers.get(userId));
  timers.set(userId, setTimeout(() => {
    clearTypingOf(convId, userId);
    changed();
  }, TYPING_SHOWN_MS));
  changed();
}

function clearTypingOf(convId, userId) {
  const timers = state.typing.get(convId);
  if (!timers?.has(userId)) return;
  clearTimeout(timers.get(userId));
  timers.delete(userId);
}

function clearTyping(convId) {
  for (const timer of state.typing.get(convId)?.values() ?? []) clearTimeout(timer);
  state.typing.delete(convId);
}

export function setBlocked(users) {
  state.blocked = new Map(users.map((u) => [u.id, u]));
  changed();
}

export function markBlocked(user, blocked) {
  // Newest block first, like GET /v1/blocks.
  if (blocked) state.blocked = new Map([[user.id, user], ...state.blocked]);
  else state.blocked.delete(user.id);
  // Their messages we hold now read as the server would send them (§5.9).
  const mark = (message) => {
    if (message?.sender.id !== user.id) return;
    if (blocked) message.sender_blocked = true;
    else delete message.sender_blocked;
  };
  for (const conv of state.conversations.values()) {
    mark(conv.last_message);
    const held = thread(conv.id);
    if (!held) continue;
    for (const message of held.bySeq.values()) mark(message);
    recountUnread(conv);
  }
  changed();
}

export function setListCursor(cursor) {
  state.listCursor = cursor;
  changed();
}

export function setOpen(convId) {
  state.openId = convId;
  changed();
}

// Keeps the model in step with the server: applies WebSocket events, loads
// and catches up message history, reconciles after each `ready`, and tells
// the server what we read and when we type.

import { api } from './api.js';
import { TokenBucket } from './pacer.js';
import {
  addMessages, addOlderMessages, applyReadyEntry, conversationTitle, removeConversation, replaceMessage, setListCursor,
  setMe, setMemberReadSeq, setOpen, setPresence, setReadSeq, setTyping, startThread, state, upsertConversation,
} from './state.js';

const PAGE = 50;
const CATCH_UP_PAGE = 200;
const TYPING_EVERY_MS = 2_000;
const PRESENCE_BATCH = 100;

export function createSync(connection, { outbox, toast }) {
  // The socket's budget for frames other than send: bursts of 40, 20 per second.
  const requests = new TokenBucket(40, 20);
  const catchingUp = new Map(); // conversation id → promise
  const loadingOlder = new Set(); // conversation ids
  // -Infinity, not 0: performance.now() counts from page load, so 0 would
  // silence typing for the first two seconds after it.
  let lastTypingSent = -Infinity;
  let readTimer = null;
  let pageLoad = null;

  // ---- Events --------------------------------------------------------------

  const handlers = {
    ready: onReady,
    message: ({ message }) => onMessages(message.conversation_id, [message]),
    message_updated: ({ message }) => replaceMessage(message),
    receipt: ({ conversation_id, user_id, seq }) => setMemberReadSeq(conversation_id, user_id, seq),
    read_state: ({ conversation_id, read_seq, unread }) => setReadSeq(conversation_id, read_seq, { unread }),
    presence: ({ user_id, online, last_seen_ts }) => setPresence(user_id, online, last_seen_ts),
    typing: ({ conversation_id, user_id }) => setTyping(conversation_id, user_id),
    conversation: onConversationEvent,
  };

  function onFrame(frame) {
    handlers[frame.type]?.(frame);
  }

  function onMessages(convId, messages) {
    if (!state.conversations.has(convId)) {
      // Normally announced by a `conversation` event first; fetch it if not.
      refreshConversation(convId);
      return;
    }
    if (addMessages(convId, messages)) catchUp(convId);
    markRead();
  }

  // `accepted` and `reopened` (chat requests) carry the conversation as we
  // see it now, `request` included: an upsert, like the other changes.
  function onConversationEvent({ change, user_id: userId, conversation }) {
    // Our own decline (maybe in another tab) hides a direct conversation
    // from us: it is the last event we get for it, like our removal.
    if (change === 'declined') {
      removeConversation(conversation.id);
      return;
    }
    if (change === 'member_removed' && userId === state.me.id) {
      const wasOpen = state.openId === conversation.id;
      removeConversation(conversation.id);
      if (wasOpen) toast(`You are no longer a member of ${conversation.title ?? 'this conversation'}.`);
      return;
    }
    upsertConversation(conversation);
    // Our own new role (or the group handed to us) changes what we may do.
    if (change === 'role_changed' && userId === state.me.id) {
      const role = conversation.members.find((m) => m.user.id === userId)?.role;
      if (role === 'owner') toast(`You are now the owner of ${conversationTitle(conversation)}.`);
      else if (role === 'admin') toast(`You are now an admin of ${conversationTitle(conversation)}.`);
    }
  }

  // After every (re)connect: take read state from `ready`, drop what we left,
  // catch up the threads we hold, resend the outbox, then fetch what we
  // miss (§4.8). The part before the first await runs before any event that
  // follows `ready`, so those events are never undone by it.
  async function onReady({ user, conversations }) {
    setMe(user);
    const listed = new Set(conversations.map((c) => c.id));
    for (const id of [...state.conversations.keys()]) if (!listed.has(id)) removeConversation(id);
    const toFetch = [];
    for (const entry of conversations) {
      const conv = state.conversations.get(entry.id);
      if (!conv) continue;
      // Fetch again what changed while we were away (preview, members' read
      // marks).
      if (entry.last_seq !== conv.last_seq || state.threads.has(entry.id)) toFetch.push(entry.id);
      applyReadyEntry(conv, entry);
    }
    // Nor is message_updated replayed: the newest page of each thread we
    // hold is read again, at the end, for messages deleted while we were away.
    const heldIds = [...state.threads.keys()];
    for (const id of heldIds) catchUp(id);
    outbox.pump();
    markRead();

    if (state.listCursor === undefined) await loadConversationPage().catch(() => {});
    // Unknown conversations newer than ones we list are new to us; older ones
    // belong to list pages not loaded yet.
    const lastKnown = conversations.findLastIndex((c) => state.conversations.has(c.id));
    conversations.forEach((entry, index) => {
      if (state.conversations.has(entry.id)) return;
      if (index < lastKnown || state.listCursor === null) toFetch.push(entry.id);
    });
    refreshPresence();
    await forEachLimited(toFetch, 4, refreshConversation);
    await forEachLimited(heldIds, 2, recheckNewest);
  }

  async function recheckNewest(convId) {
    const held = state.threads.get(convId);
    if (!held) return;
    try {
      const page = await api.messages(convId, { before: held.local + 1 }, PAGE);
      for (const message of page.messages) if (message.deleted) replaceMessage(message);
    } catch {
      // Offline again, or no longer a member: the next `ready` sorts it out.
    }
  }

  // ---- Conversations and history -------------------------------------------

  async function refreshConversation(convId) {
    try {
      const { conversation } = await api.conversation(convId);
      upsertConversation(conversation);
    } catch (error) {
      if (error.code === 'not_found') removeConversation(convId);
    }
  }

  // The next page of the conversation list; concurrent calls share one request.
  function loadConversationPage() {
    if (state.listCursor === null) return Promise.resolve();
    pageLoad ??= (async () => {
      const { conversations, next_cursor: next } = await api.conversations(state.listCursor);
      for (const conversation of conversations) upsertConversation(conversation);
      setListCursor(next);
    })().finally(() => { pageLoad = null; });
    return pageLoad;
  }

  async function openConversation(convId) {
    const conv = state.conversations.get(convId);
    if (!conv) return;
    setOpen(convId);
    if (!state.threads.has(convId)) {
      try {
        const page = await api.messages(convId, { before: conv.last_seq + 1 }, PAGE);
        if (!state.conversations.has(convId) || state.threads.has(convId)) return;
        startThread(convId, page.messages, page.has_more);
      } catch (error) {
        return reportHistoryError(convId, error);
      }
      await catchUp(convId);
    }
    markRead();
  }

  async function loadOlder(convId) {
    const held = state.threads.get(convId);
    if (!held?.hasOlder || loadingOlder.has(convId)) return;
    loadingOlder.add(convId);
    try {
      const page = await api.messages(convId, { before: held.oldest }, PAGE);
      addOlderMessages(convId, page.messages, page.has_more);
    } catch (error) {
      reportHistoryError(convId, error);
    } finally {
      loadingOlder.delete(convId);
    }
  }

  // Fetches everything after the highest contiguous seq until we hold
  // last_seq. One run per conversation at a time.
  function catchUp(convId) {
    if (!catchingUp.has(convId)) {
      const run = fillGap(convId).finally(() => catchingUp.delete(convId));
      catchingUp.set(convId, run);
    }
    return catchingUp.get(convId);
  }

  async function fillGap(convId) {
    for (;;) {
      const held = state.threads.get(convId);
      const conv = state.conversations.get(convId);
      if (!held || !conv || conv.last_seq <= held.local) return;
      try {
        const page = await api.messages(convId, { after: held.local }, CATCH_UP_PAGE);
        addMessages(convId, page.messages);
        if (!page.messages.length) return;
      } catch (error) {
        return reportHistoryError(convId, error);
      }
      markRead();
    }
  }

  function reportHistoryError(convId, error) {
    if (error.code === 'not_found') removeConversation(convId);
    else toast(`Could not load messages: ${error.message}`);
  }

  // ---- Reading, typing, presence -------------------------------------------

  // Marks the open conversation read up to what it shows, while the page is
  // visible. The server needs it only when our mark moves.
  function markRead() {
    const convId = state.openId;
    const conv = state.conversations.get(convId);
    const held = state.threads.get(convId);
    if (!conv || !held || document.visibilityState !== 'visible' || held.local <= conv.read_seq) return;
    if (!connection.ready) return; // the next `ready` calls markRead again
    const wait = requests.wait();
    if (wait > 0) {
      clearTimeout(readTimer);
      readTimer = setTimeout(markRead, wait);
      return;
    }
    requests.tryTake();
    const seq = held.local;
    setReadSeq(convId, seq);
    connection.request({ type: 'read', conversation_id: convId, seq }).catch(() => {});
  }

  // At most one typing frame every 2 s: the server relays no more than that.
  function typing() {
    const now = performance.now();
    if (!state.openId || now - lastTypingSent < TYPING_EVERY_MS || !requests.tryTake()) return;
    if (connection.notify({ type: 'typing', conversation_id: state.openId })) lastTypingSent = now;
  }

  // Presence events are not replayed after a reconnect: ask for the people we
  // show, direct contacts first (§4.8 step 7).
  async function refreshPresence() {
    const direct = [];
    const others = [];
    for (const conv of state.conversations.values()) {
      for (const member of conv.members) {
        if (member.user.id !== state.me.id) (conv.kind === 'direct' ? direct : others).push(member.user.id);
      }
    }
    const ids = [...new Set([...direct, ...others])].slice(0, PRESENCE_BATCH);
    if (!ids.length || !requests.tryTake()) return;
    try {
      const { users } = await connection.request({ type: 'presence', user_ids: ids });
      for (const u of users) setPresence(u.user_id, u.online, u.last_seen_ts);
    } catch {
      // Offline again: the next `ready` asks again.
    }
  }

  return {
    onFrame, loadConversationPage, refreshConversation, openConversation, loadOlder, catchUp, markRead, typing,
  };
}

// Runs task over items with at most `limit` running at once.
async function forEachLimited(items, limit, task) {
  const queue = [...items];
  const worker = async () => {
    while (queue.length) await task(queue.shift());
  };
  await Promise.all(Array.from({ length: Math.min(limit, queue.length) }, worker));
}

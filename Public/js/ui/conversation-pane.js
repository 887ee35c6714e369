// The open conversation: header, the answers to a chat request, messages
// (with their delivery ticks; those of people we block folded away; deleted
// ones as a muted line, with a Delete control where we may delete), who is
// typing, and the composer.
import { api } from '../api.js';
import {
  canDelete, conversationTitle, isMine, isRequest, markDeleted, messagesOf, otherMembers, readCount, requestStarter,
  state,
} from '../state.js';
import { $, h, reconcile, setText } from './dom.js';
import { clockTime, DELETED_TEXT, fullTime, lastSeen } from './format.js';
import { botBadge } from './user-search.js';

const NEAR_EDGE_PX = 80;
const GROUPED_WITHIN_MS = 5 * 60_000;

const STATUS = {
  pending: { glyph: '', label: 'Sending' },
  sent: { glyph: '✓', label: 'Sent' },
  read: { glyph: '✓✓', label: 'Read' },
  failed: { glyph: '!', label: 'Not sent' },
};

export function createConversationPane({ sync, outbox, requests, confirm, toast, onBack }) {
  const view = $('chat-view');
  const pane = $('conversation-pane');
  const placeholder = $('no-conversation');
  const title = $('conversation-title');
  const titleBot = $('conversation-bot');
  const subtitle = $('conversation-subtitle');
  const list = $('message-list'); // also the scroll container
  const older = $('older-button');
  const typing = $('typing-indicator');
  const composer = $('composer');
  const input = $('composer-input');
  const requestBar = $('request-bar');
  let shownId = null;
  let stickToBottom = false;
  const drafts = new Map(); // conversation id → unsent text
  // "conversation id:seq" of messages from people we block that were
  // unfolded by a click; anything else from them stays folded.
  const unfolded = new Set();

  composer.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim() || !state.openId) return;
    stickToBottom = true;
    outbox.send(state.openId, text);
    input.value = '';
  });
  input.addEventListener('keydown', (event) => {
    // Enter sends, Shift+Enter is a new line; not while an IME composes.
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  input.addEventListener('input', () => {
    if (input.value.trim()) sync.typing();
  });
  list.addEventListener('scroll', () => {
    if (list.scrollTop < NEAR_EDGE_PX && state.openId) sync.loadOlder(state.openId);
  });
  older.addEventListener('click', () => sync.loadOlder(state.openId));
  list.addEventListener('click', (event) => {
    const fold = event.target.closest('button.fold-toggle');
    if (fold) {
      toggleFold(fold);
      return;
    }
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    const { clientId, seq } = button.closest('li.message').dataset;
    if (button.dataset.action === 'retry') outbox.retry(clientId);
    else if (button.dataset.action === 'delete') outbox.discard(clientId);
    else if (button.dataset.action === 'delete-stored') deleteStored(Number(seq));
  });
  $('back-button').addEventListener('click', onBack);
  requestBar.addEventListener('click', (event) => {
    const answer = event.target.closest('button[data-request-action]')?.dataset.requestAction;
    if (answer && state.openId) requests[answer](state.openId);
  });

  // Deleted for everyone: the server keeps the seq, not the text.
  async function deleteStored(seq) {
    const convId = state.openId;
    if (!convId || !await confirm.ask('Delete this message for everyone? This cannot be undone.', 'Delete')) return;
    try {
      await api.deleteMessage(convId, seq);
      markDeleted(convId, seq);
    } catch (error) {
      toast(`Could not delete the message: ${error.message}`);
    }
  }

  function toggleFold(button) {
    const convId = state.openId;
    const seqs = button.closest('li.fold').dataset.seqs.split(' ');
    const show = button.getAttribute('aria-expanded') !== 'true';
    for (const seq of seqs) {
      if (show) unfolded.add(`${convId}:${seq}`);
      else unfolded.delete(`${convId}:${seq}`);
    }
    render();
  }

  function render() {
    const conv = state.conversations.get(state.openId);
    pane.hidden = !conv;
    placeholder.hidden = Boolean(conv);
    view.classList.toggle('has-conversation', Boolean(conv));
    if (!conv) {
      if (shownId) drafts.set(shownId, input.value);
      pane.removeAttribute('data-conversation-id');
      reconcile(list, []);
      shownId = null;
      return;
    }
    const switched = shownId !== conv.id;
    if (switched) {
      if (shownId) drafts.set(shownId, input.value);
      input.value = drafts.get(conv.id) ?? '';
    }
    shownId = conv.id;
    pane.dataset.conversationId = conv.id;
    list.dataset.kind = conv.kind;
    setText(title, conversationTitle(conv));
    titleBot.hidden = !(conv.kind === 'direct' && otherMembers(conv)[0]?.user.bot);
    setText(subtitle, subtitleOf(conv));
    renderRequestBar(conv);
    renderMessages(conv, switched);
    setText(typing, typingText(conv));
    if (switched) input.focus({ preventScroll: true });
  }

  // While the conversation is a request for us, its answers show above the
  // messages (on a phone the list with its Requests section is hidden).
  function renderRequestBar(conv) {
    requestBar.hidden = !isRequest(conv);
    if (requestBar.hidden) return;
    const starter = requestStarter(conv);
    const name = starter?.display_name ?? 'Someone';
    setText($('request-text'), conv.kind === 'group'
      ? `${name} added you to this group. Replying accepts the request.`
      : `${name} wants to chat with you. Replying accepts the request.`);
    requestBar.querySelector('[data-request-action="block"]').hidden = !starter;
  }

  function renderMessages(conv, switched) {
    const { stored, pending } = messagesOf(conv.id);
    const items = [...foldBlocked(stored, conv), ...pending.map(fromPending)];
    items.forEach((item, i) => {
      const previous = items[i - 1];
      item.continued = Boolean(item.kind === 'message' && previous?.kind === 'message'
        && previous.sender.id === item.sender.id && item.ts - previous.ts < GROUPED_WITHIN_MS);
    });
    older.hidden = !state.threads.get(conv.id)?.hasOlder;

    const before = {
      height: list.scrollHeight,
      top: list.scrollTop,
      atBottom: list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_EDGE_PX,
      first: list.firstElementChild,
    };
    reconcile(list, items, (item) => item.key, createRow, updateRow);
    if (switched || stickToBottom || before.atBottom) {
      list.scrollTop = list.scrollHeight;
    } else if (before.first && list.firstElementChild !== before.first) {
      // Older messages came in above: keep the ones being read in place.
      list.scrollTop = before.top + list.scrollHeight - before.height;
    }
    stickToBottom = false;
  }

  // Consecutive messages from people we block become one fold, followed by
  // the messages themselves once it was clicked open.
  function foldBlocked(messages, conv) {
    const items = [];
    let run = [];
    const closeRun = () => {
      if (!run.length) return;
      const expanded = run.some((m) => unfolded.has(`${conv.id}:${m.seq}`));
      items.push({ kind: 'fold', key: `f:${run[0].seq}`, seqs: run.map((m) => m.seq), expanded });
      if (expanded) items.push(...run.map((m) => fromMessage(m, conv)));
      run = [];
    };
    for (const message of messages) {
      if (message.sender_blocked) {
        run.push(message);
        continue;
      }
      closeRun();
      items.push(fromMessage(message, conv));
    }
    closeRun();
    return items;
  }

  // On log out: nothing of this user's may show for the next one.
  function reset() {
    shownId = null;
    unfolded.clear();
    drafts.clear();
    input.value = '';
    reconcile(list, []);
  }

  return { render, reset };
}

function subtitleOf(conv) {
  if (conv.kind === 'group') return `${conv.members.length} ${conv.members.length === 1 ? 'member' : 'members'}`;
  const other = otherMembers(conv)[0];
  if (!other) return '';
  if (state.blocked.has(other.user.id)) return 'Blocked';
  return lastSeen(state.presence.get(other.user.id));
}

function typingText(conv) {
  const names = [...(state.typing.get(conv.id)?.keys() ?? [])]
    .map((id) => conv.members.find((m) => m.user.id === id)?.user.display_name)
    .filter(Boolean);
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return 'Several people are typing…';
}

// ---- One message ---------------------------------------------------------

// What a row shows, for a stored message or a pending send alike. Own
// messages are keyed by client_id so a row keeps its element when its send
// is acknowledged.
function fromMessage(message, conv) {
  const mine = isMine(message);
  let status = null;
  let statusLabel = null;
  if (mine) {
    const { read, of } = readCount(conv, message.seq);
    status = of > 0 && read === of ? 'read' : 'sent';
    statusLabel = conv.kind === 'group' && read > 0 ? `Read by ${read} of ${of}` : STATUS[status].label;
  }
  return {
    kind: 'message',
    key: message.client_id ? `c:${message.client_id}` : `s:${message.seq}`,
    seq: message.seq,
    clientId: message.client_id,
    mine,
    sender: message.sender,
    text: message.text,
    ts: message.ts,
    status,
    statusLabel,
    fromBlocked: Boolean(message.sender_blocked),
    deleted: Boolean(message.deleted),
    deletable: canDelete(conv, message),
  };
}

function fromPending(pending) {
  return {
    kind: 'message',
    key: `c:${pending.clientId}`,
    seq: null,
    clientId: pending.clientId,
    mine: true,
    sender: state.me,
    text: pending.text,
    ts: pending.ts,
    status: pending.status,
    statusLabel: STATUS[pending.status].label,
    error: pending.error,
  };
}

function createMessage(item) {
  return h('li', { class: 'message', dataset: { mine: String(item.mine) } },
    h('span', { class: 'message-sender' }, item.mine ? 'You' : item.sender.display_name, !item.mine && botBadge(item.sender)),
    h('div', { class: 'message-text' }),
    h('div', { class: 'message-meta' },
      h('time', { class: 'message-time' }),
      item.mine && h('span', { class: 'message-status' },
        h('span', { class: 'status-glyph', 'aria-hidden': 'true' }),
        h('span', { class: 'visually-hidden status-label' }))));
}

function updateMessage(li, item) {
  if (item.seq == null) delete li.dataset.seq;
  else li.dataset.seq = String(item.seq);
  if (item.clientId) li.dataset.clientId = item.clientId;
  li.classList.toggle('continued', item.continued);
  li.classList.toggle('from-blocked', Boolean(item.fromBlocked));
  // Deleted: the text is gone for good, whatever was shown before.
  li.classList.toggle('deleted', Boolean(item.deleted));
  setText(li.querySelector('.message-text'), item.deleted ? DELETED_TEXT : item.text);
  renderDeleteControl(li, item);

  const time = li.querySelector('.message-time');
  const iso = new Date(item.ts).toISOString();
  if (time.dateTime !== iso) {
    time.dateTime = iso;
    time.title = fullTime(item.ts);
    time.textContent = clockTime(item.ts);
  }
  if (!item.mine) return;

  const status = li.querySelector('.message-status');
  status.dataset.status = item.status;
  status.title = item.statusLabel;
  setText(status.querySelector('.status-glyph'), STATUS[item.status].glyph);
  setText(status.querySelector('.status-label'), item.statusLabel);
  renderFailure(li, item);
}

// Shown on hover and focus (always on touch screens), before the time.
function renderDeleteControl(li, item) {
  let control = li.querySelector('.message-delete');
  if (!item.deletable) {
    control?.remove();
    return;
  }
  if (!control) {
    control = h('button', {
      type: 'button', class: 'message-delete link-button', dataset: { action: 'delete-stored' },
      'aria-label': item.mine ? 'Delete your message' : `Delete the message from ${item.sender.display_name}`,
    }, 'Delete');
    li.querySelector('.message-meta').prepend(control);
  }
}

// A failed send shows the server's reason and offers Retry and Delete.
function renderFailure(li, item) {
  let failure = li.querySelector('.message-failure');
  if (item.status !== 'failed') {
    failure?.remove();
    return;
  }
  if (!failure) {
    failure = h('div', { class: 'message-failure' },
      h('span', { class: 'failure-reason' }),
      h('button', { type: 'button', class: 'link-button', dataset: { action: 'retry' } }, 'Retry'),
      h('button', { type: 'button', class: 'link-button', dataset: { action: 'delete' } }, 'Delete'));
    li.append(failure);
  }
  setText(failure.querySelector('.failure-reason'), item.error ?? 'Not sent.');
}

// ---- A fold of messages from people we block -----------------------------

// The message list holds both kinds of row; their keys never collide.
function createRow(item) {
  return item.kind === 'fold' ? createFold() : createMessage(item);
}

function updateRow(li, item) {
  if (item.kind === 'fold') updateFold(li, item);
  else updateMessage(li, item);
}

function createFold() {
  return h('li', { class: 'fold' },
    h('button', { type: 'button', class: 'fold-toggle link-button', 'aria-expanded': 'false' },
      h('span', { class: 'fold-label' }),
      h('span', { class: 'fold-action' })));
}

function updateFold(li, item) {
  li.dataset.seqs = item.seqs.join(' ');
  const count = item.seqs.length;
  const button = li.querySelector('.fold-toggle');
  button.setAttribute('aria-expanded', String(item.expanded));
  setText(li.querySelector('.fold-label'),
    `${count} ${count === 1 ? 'message' : 'messages'} from someone you blocked`);
  setText(li.querySelector('.fold-action'), item.expanded ? 'Hide' : 'Show');
}

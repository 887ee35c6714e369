// The open conversation: header, messages (with their delivery ticks),
// who is typing, and the composer.
import {
  conversationTitle, isMine, messagesOf, otherMembers, readCount, state,
} from '../state.js';
import { $, h, reconcile, setText } from './dom.js';
import { clockTime, fullTime, lastSeen } from './format.js';

const NEAR_EDGE_PX = 80;
const GROUPED_WITHIN_MS = 5 * 60_000;

const STATUS = {
  pending: { glyph: '', label: 'Sending' },
  sent: { glyph: '✓', label: 'Sent' },
  read: { glyph: '✓✓', label: 'Read' },
  failed: { glyph: '!', label: 'Not sent' },
};

export function createConversationPane({ sync, outbox, onBack }) {
  const view = $('chat-view');
  const pane = $('conversation-pane');
  const placeholder = $('no-conversation');
  const title = $('conversation-title');
  const subtitle = $('conversation-subtitle');
  const list = $('message-list'); // also the scroll container
  const older = $('older-button');
  const typing = $('typing-indicator');
  const composer = $('composer');
  const input = $('composer-input');
  let shownId = null;
  let stickToBottom = false;
  const drafts = new Map(); // conversation id → unsent text

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
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    const { clientId } = button.closest('li.message').dataset;
    if (button.dataset.action === 'retry') outbox.retry(clientId);
    else outbox.discard(clientId);
  });
  $('back-button').addEventListener('click', onBack);

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
    setText(subtitle, subtitleOf(conv));
    renderMessages(conv, switched);
    setText(typing, typingText(conv));
    if (switched) input.focus({ preventScroll: true });
  }

  function renderMessages(conv, switched) {
    const { stored, pending } = messagesOf(conv.id);
    const items = [...stored.map((m) => fromMessage(m, conv)), ...pending.map(fromPending)];
    items.forEach((item, i) => {
      const previous = items[i - 1];
      item.continued = Boolean(previous && previous.sender.id === item.sender.id
        && item.ts - previous.ts < GROUPED_WITHIN_MS);
    });
    older.hidden = !state.threads.get(conv.id)?.hasOlder;

    const before = {
      height: list.scrollHeight,
      top: list.scrollTop,
      atBottom: list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_EDGE_PX,
      first: list.firstElementChild,
    };
    reconcile(list, items, (item) => item.key, createMessage, updateMessage);
    if (switched || stickToBottom || before.atBottom) {
      list.scrollTop = list.scrollHeight;
    } else if (before.first && list.firstElementChild !== before.first) {
      // Older messages came in above: keep the ones being read in place.
      list.scrollTop = before.top + list.scrollHeight - before.height;
    }
    stickToBottom = false;
  }

  // On log out: nothing of this user's may show for the next one.
  function reset() {
    shownId = null;
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
    key: message.client_id ? `c:${message.client_id}` : `s:${message.seq}`,
    seq: message.seq,
    clientId: message.client_id,
    mine,
    sender: message.sender,
    text: message.text,
    ts: message.ts,
    status,
    statusLabel,
  };
}

function fromPending(pending) {
  return {
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
    h('span', { class: 'message-sender' }, item.mine ? 'You' : item.sender.display_name),
    h('div', { class: 'message-text' }, item.text),
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

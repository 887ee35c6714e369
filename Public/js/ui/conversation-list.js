// The conversation list: newest activity first, unread badges, presence of
// direct contacts, and paging by scrolling or with the "Load more" button.
import { conversationTitle, isMine, otherMembers, sortedConversations, state, unreadCount } from '../state.js';
import { $, h, reconcile, setText } from './dom.js';
import { hue, initials, shortTime } from './format.js';

export function createConversationList({ onOpen, onLoadMore }) {
  const list = $('conversation-list');
  const more = $('load-more-button');
  const sentinel = $('conversation-sentinel');
  const empty = $('conversation-empty');

  list.addEventListener('click', (event) => {
    const item = event.target.closest('li.conversation');
    if (item) onOpen(item.dataset.conversationId);
  });
  more.addEventListener('click', onLoadMore);

  // Observing again after each page re-checks the sentinel: if the list is
  // still too short to push it out of view, the next page loads too.
  const observer = new IntersectionObserver(async (entries) => {
    if (!entries.some((entry) => entry.isIntersecting) || !state.listCursor) return;
    await onLoadMore();
    observer.unobserve(sentinel);
    observer.observe(sentinel);
  });
  observer.observe(sentinel);

  function render() {
    const conversations = sortedConversations();
    reconcile(list, conversations, (conv) => conv.id, createItem, updateItem);
    more.hidden = !state.listCursor;
    empty.hidden = conversations.length > 0 || state.listCursor === undefined;
  }

  return { render };
}

function createItem(conv) {
  return h('li', { class: 'conversation', dataset: { conversationId: conv.id } },
    h('button', { type: 'button', class: 'conversation-open' },
      h('span', { class: 'avatar-wrap' },
        h('span', { class: 'avatar', 'aria-hidden': 'true' }),
        conv.kind === 'direct' && h('span', { class: 'presence-dot' })),
      h('span', { class: 'conversation-main' },
        h('span', { class: 'conversation-top' },
          h('span', { class: 'conversation-title' }),
          h('time', { class: 'conversation-time' })),
        h('span', { class: 'conversation-bottom' },
          h('span', { class: 'conversation-preview' })))));
}

function updateItem(item, conv) {
  const title = conversationTitle(conv);
  const unread = unreadCount(conv);
  const active = conv.id === state.openId;
  item.classList.toggle('active', active);

  const button = item.querySelector('.conversation-open');
  if (active) button.setAttribute('aria-current', 'true');
  else button.removeAttribute('aria-current');

  const picture = item.querySelector('.avatar');
  picture.dataset.hue = hue(conv.kind === 'direct' ? otherMembers(conv)[0]?.user.id ?? conv.id : conv.id);
  setText(picture, initials(title));

  let online = null;
  const dot = item.querySelector('.presence-dot');
  if (dot) {
    online = Boolean(state.presence.get(otherMembers(conv)[0]?.user.id)?.online);
    dot.dataset.online = String(online);
  }

  setText(item.querySelector('.conversation-title'), title);
  const time = item.querySelector('.conversation-time');
  setText(time, shortTime(conv.last_activity_ts));
  time.dateTime = new Date(conv.last_activity_ts).toISOString();

  const preview = previewText(conv);
  setText(item.querySelector('.conversation-preview'), preview);
  renderBadge(item.querySelector('.conversation-bottom'), unread);

  const parts = [title];
  if (online !== null) parts.push(online ? 'online' : 'offline');
  if (unread) parts.push(`${unread} unread`);
  parts.push(preview);
  button.setAttribute('aria-label', parts.join(', '));
}

// A message from someone we block is folded away in the conversation, so
// its text stays out of the preview too.
function previewText(conv) {
  const last = conv.last_message;
  if (!last) return conv.kind === 'group' ? 'New group' : 'No messages yet';
  if (last.sender_blocked) return 'A message from someone you blocked';
  return isMine(last) ? `You: ${last.text}` : last.text;
}

// The badge exists only while something is unread, so an empty one is
// never announced or styled.
function renderBadge(row, unread) {
  let badge = row.querySelector('.unread-badge');
  if (!unread) {
    badge?.remove();
    return;
  }
  if (!badge) row.append(badge = h('span', { class: 'unread-badge' }));
  setText(badge, String(unread));
}

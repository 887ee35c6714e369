// The conversation list: newest activity first, unread badges, presence of
// direct contacts, and paging by scrolling or with the "Load more" button.
// Chat requests show apart, above, in a "Requests" section, each with its
// Accept, Decline and Block buttons.
import {
  conversationTitle, isMine, isRequest, otherMembers, requestStarter, sortedConversations, state, unreadCount,
} from '../state.js';
import { $, h, reconcile, setText } from './dom.js';
import { DELETED_TEXT, hue, initials, shortTime } from './format.js';

export function createConversationList({ onOpen, onLoadMore, requests }) {
  const list = $('conversation-list');
  const requestSection = $('request-section');
  const requestList = $('request-list');
  const chatsHeading = $('chats-heading');
  const more = $('load-more-button');
  const sentinel = $('conversation-sentinel');
  const empty = $('conversation-empty');

  list.addEventListener('click', (event) => {
    const item = event.target.closest('li.conversation');
    if (item) onOpen(item.dataset.conversationId);
  });
  requestList.addEventListener('click', (event) => {
    const item = event.target.closest('li.conversation');
    if (!item) return;
    const convId = item.dataset.conversationId;
    const answer = event.target.closest('button[data-request-action]')?.dataset.requestAction;
    if (answer) requests[answer](convId);
    else if (event.target.closest('button.conversation-open')) onOpen(convId);
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
    const asked = conversations.filter(isRequest);
    const chats = conversations.filter((conv) => !isRequest(conv));
    reconcile(requestList, asked, (conv) => conv.id, createRequestItem, updateItem);
    reconcile(list, chats, (conv) => conv.id, createItem, updateItem);
    // The headings only matter while there are two sections to tell apart.
    requestSection.hidden = asked.length === 0;
    chatsHeading.hidden = asked.length === 0 || chats.length === 0;
    more.hidden = !state.listCursor;
    empty.hidden = conversations.length > 0 || state.listCursor === undefined;
  }

  return { render };
}

function createItem(conv) {
  return h('li', { class: 'conversation', dataset: { conversationId: conv.id } }, openButton(conv, true));
}

// A request's row: no presence dot (a stranger's presence is not what the
// row is about), and its three answers beside the button that opens it to
// read (buttons cannot nest).
function createRequestItem(conv) {
  return h('li', { class: 'conversation request', dataset: { conversationId: conv.id } },
    openButton(conv, false),
    h('div', { class: 'request-actions' },
      h('button', { type: 'button', class: 'primary', dataset: { requestAction: 'accept' } }, 'Accept'),
      h('button', { type: 'button', dataset: { requestAction: 'decline' } }, 'Decline'),
      h('button', { type: 'button', class: 'danger', dataset: { requestAction: 'block' } }, 'Block')));
}

function openButton(conv, withPresence) {
  return h('button', { type: 'button', class: 'conversation-open' },
    h('span', { class: 'avatar-wrap' },
      h('span', { class: 'avatar', 'aria-hidden': 'true' }),
      withPresence && conv.kind === 'direct' && h('span', { class: 'presence-dot' })),
    h('span', { class: 'conversation-main' },
      h('span', { class: 'conversation-top' },
        h('span', { class: 'conversation-title' }),
        h('span', { class: 'bot-badge', hidden: true }, 'bot'),
        h('time', { class: 'conversation-time' })),
      h('span', { class: 'conversation-bottom' },
        h('span', { class: 'conversation-preview' }))));
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
  // A direct chat with a bot says so, as the bot's name does elsewhere.
  const bot = conv.kind === 'direct' && Boolean(otherMembers(conv)[0]?.user.bot);
  item.querySelector('.bot-badge').hidden = !bot;
  const time = item.querySelector('.conversation-time');
  setText(time, shortTime(conv.last_activity_ts));
  time.dateTime = new Date(conv.last_activity_ts).toISOString();

  const preview = previewText(conv);
  setText(item.querySelector('.conversation-preview'), preview);
  renderBadge(item.querySelector('.conversation-bottom'), unread);

  const parts = [bot ? `${title} (bot)` : title];
  if (online !== null) parts.push(online ? 'online' : 'offline');
  if (unread) parts.push(`${unread} unread`);
  parts.push(preview);
  button.setAttribute('aria-label', parts.join(', '));
  if (isRequest(conv)) labelAnswers(item, conv, title);
}

// Each answer names whom it answers, for those who hear the buttons alone.
function labelAnswers(item, conv, title) {
  const starter = requestStarter(conv);
  const from = conv.kind === 'group' ? `the request to join ${title}` : `the request from ${title}`;
  item.querySelector('[data-request-action="accept"]').setAttribute('aria-label', `Accept ${from}`);
  item.querySelector('[data-request-action="decline"]').setAttribute('aria-label', `Decline ${from}`);
  const block = item.querySelector('[data-request-action="block"]');
  block.hidden = !starter;
  if (starter) block.setAttribute('aria-label', `Block ${starter.display_name}`);
}

// A message from someone we block is folded away in the conversation, so
// its text stays out of the preview too.
function previewText(conv) {
  const last = conv.last_message;
  if (!last) return conv.kind === 'group' ? 'New group' : 'No messages yet';
  if (last.sender_blocked) return 'A message from someone you blocked';
  if (last.deleted) return DELETED_TEXT;
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

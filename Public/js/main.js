// Wires the pieces together: the session (token, socket) and the views.
// Views re-render from `state` after changes, once per burst of changes.
import { api, setToken, whenUnauthorized } from './api.js';
import { createBlocks } from './blocks.js';
import { Connection } from './connection.js';
import { createOutbox } from './outbox.js';
import { createRequests } from './requests.js';
import { createSync } from './sync.js';
import {
  conversationTitle, resetState, setBlocked, setOpen, state, subscribe, unreadCount, upsertConversation,
} from './state.js';
import { createAccountPane } from './ui/account-pane.js';
import { createAuthView } from './ui/auth-view.js';
import { createBlockedPane } from './ui/blocked-pane.js';
import { createConfirm } from './ui/confirm-dialog.js';
import { createConversationList } from './ui/conversation-list.js';
import { createConversationPane } from './ui/conversation-pane.js';
import { createDetailsPane } from './ui/details-pane.js';
import { $, setText } from './ui/dom.js';
import { fullTime } from './ui/format.js';
import { createGroupDialog } from './ui/group-dialog.js';
import { createPanels } from './ui/panels.js';
import { createToast } from './ui/toast.js';
import { createUserSearch } from './ui/user-search.js';

// sessionStorage: the tab's own storage, gone when the tab closes.
const TOKEN_KEY = 'parley.token';
const SESSION_ENDED = 'Your session ended, please log in again.';
// An invite link's code (#/invite/CODE, §9.5), kept until someone is
// signed in to accept it.
const INVITE_KEY = 'parley.invite';
const INVITE_HASH = /^#\/invite\/([^/?#]+)$/;
const INVITE_NOTE = 'Log in or sign up to join the group you were invited to.';

const toast = createToast();
const confirm = createConfirm();
const connection = new Connection({
  onFrame: (frame) => sync.onFrame(frame),
  onStatus: showConnectionStatus,
  onSessionEnded: () => endSession(SESSION_ENDED),
});
const outbox = createOutbox(connection, { onGap: (convId) => sync.catchUp(convId) });
const sync = createSync(connection, { outbox, toast });
const blocks = createBlocks({ sync });
const requests = createRequests({ blocks, toast });

const panels = createPanels();
const auth = createAuthView({ onAuthenticated: ({ user, token }) => startSession(user, token) });
const list = createConversationList({ onOpen: sync.openConversation, onLoadMore: loadMoreConversations, requests });
const pane = createConversationPane({ sync, outbox, requests, confirm, toast, onBack: closeConversation });
const details = createDetailsPane({ sync, blocks, toast, panels, confirm });
const blocked = createBlockedPane({ blocks, toast });
const account = createAccountPane();
const groups = createGroupDialog({ toast, onCreated: sync.openConversation });
const people = createUserSearch({
  input: $('people-search'),
  results: $('people-results'),
  exclude: () => new Set([state.me.id]),
  onPick: openDirect,
  toast,
});
panels.register($('details-pane'), $('details-button'), render);
panels.register($('blocked-pane'), $('blocked-button'), blocked.load);
panels.register($('account-pane'), $('account-button'), account.load);

let renderQueued = false;
subscribe(() => {
  if (renderQueued) return;
  renderQueued = true;
  queueMicrotask(render);
});

function render() {
  renderQueued = false;
  if (!state.me) return;
  setText($('me-name'), state.me.display_name);
  const unread = [...state.conversations.values()].reduce((sum, conv) => sum + unreadCount(conv), 0);
  document.title = unread ? `(${unread}) Parley` : 'Parley';
  list.render();
  pane.render();
  details.render();
  blocked.render();
}

// ---- Session -------------------------------------------------------------

function startSession(user, token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  setToken(token);
  resetState(user);
  auth.hide();
  $('chat-view').hidden = false;
  sync.loadConversationPage().catch((error) => toast(error.message));
  api.blocks().then(({ users }) => setBlocked(users), () => {});
  connection.start(token);
  acceptPendingInvite();
  // The account pane is about the e-mail address: only where codes are mailed.
  auth.offers().then((offered) => {
    if (state.me) $('account-button').hidden = !offered.email_code;
  });
}

function endSession(message) {
  connection.stop();
  sessionStorage.removeItem(TOKEN_KEY);
  setToken(null);
  groups.close();
  confirm.close();
  details.reset();
  account.reset();
  for (const panel of [$('details-pane'), $('blocked-pane'), $('account-pane')]) panels.close(panel);
  $('account-button').hidden = true;
  people.clear();
  pane.reset();
  resetState(null);
  $('chat-view').hidden = true;
  document.title = 'Parley';
  showSignIn(message);
}

function showSignIn(message = '') {
  auth.show(message);
  auth.setNote(sessionStorage.getItem(INVITE_KEY) ? INVITE_NOTE : '');
}

async function logOut() {
  // Stop first so the server's 4401 for the revoked token is not taken for
  // an expired session.
  connection.stop();
  try {
    await api.logOut();
  } catch {
    // The token is forgotten here either way.
  }
  endSession('');
}

// detail is a close reason worth showing: a ban, "… until <Unix ms>".
function showConnectionStatus(status, detail) {
  const el = $('connection-status');
  el.dataset.state = status;
  const text = { connecting: 'Connecting…', connected: '', reconnecting: 'Reconnecting…' }[status];
  const reason = detail.replace(/\d{10,}/, (ms) => fullTime(Number(ms)));
  el.textContent = reason ? `${text} (${reason})` : text;
}

// ---- Navigation ----------------------------------------------------------

// Back (phone layout): the list again, with focus on the conversation left.
function closeConversation() {
  const convId = state.openId;
  setOpen(null);
  queueMicrotask(() => {
    document.querySelector(`li.conversation[data-conversation-id="${CSS.escape(convId)}"] button`)?.focus();
  });
}

async function openDirect(user) {
  try {
    const { conversation } = await api.openDirect(user.id);
    upsertConversation(conversation);
    people.clear();
    sync.openConversation(conversation.id);
  } catch (error) {
    toast(error.message);
  }
}

async function loadMoreConversations() {
  try {
    await sync.loadConversationPage();
  } catch (error) {
    toast(error.message);
  }
}

// ---- Invite links --------------------------------------------------------

// The hash is cleared as soon as it is read: a reload or a shared screen
// must not take the code along.
function takeInviteFromHash() {
  const match = INVITE_HASH.exec(location.hash);
  if (!match) return false;
  let code = match[1];
  try {
    code = decodeURIComponent(code);
  } catch {
    // Mangled: the server will not know it either, and says so.
  }
  sessionStorage.setItem(INVITE_KEY, code);
  history.replaceState(null, '', location.pathname + location.search);
  return true;
}

async function acceptPendingInvite() {
  const code = sessionStorage.getItem(INVITE_KEY);
  if (!code || !state.me) return;
  sessionStorage.removeItem(INVITE_KEY);
  try {
    const { conversation } = await api.acceptInvite(code);
    upsertConversation(conversation);
    sync.openConversation(conversation.id);
    toast(`You joined ${conversationTitle(conversation)}.`);
  } catch (error) {
    if (error.code === 'not_found') {
      // Unknown, expired, used up or revoked: the server does not say which.
      setOpen(null);
      toast('This invite link is not valid any more.');
    } else if (error.status === 401) {
      // The session ended meanwhile: the invite waits for the next one.
      sessionStorage.setItem(INVITE_KEY, code);
      auth.setNote(INVITE_NOTE);
    } else {
      toast(`Could not join the group: ${error.message}`);
    }
  }
}

// A link opened in a tab that is already open (only the hash changes).
function onHashChange() {
  if (!takeInviteFromHash()) return;
  if (state.me) acceptPendingInvite();
  else auth.setNote(INVITE_NOTE);
}

// ---- Start ---------------------------------------------------------------

whenUnauthorized(() => endSession(SESSION_ENDED));
$('logout-button').addEventListener('click', logOut);
document.addEventListener('visibilitychange', () => sync.markRead());
window.addEventListener('hashchange', onHashChange);
takeInviteFromHash();

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) {
  setToken(saved);
  api.me().then(({ user }) => startSession(user, saved), (error) => {
    // 401 already ended the session; otherwise the server is unreachable.
    if (error.status !== 401) showSignIn(error.message);
  });
} else {
  showSignIn();
}

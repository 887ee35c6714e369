// Blocking and unblocking someone (PROTOCOL.md §5.9). From then on the
// server marks that person's messages sender_blocked, or stops marking them,
// in all it sends; the messages we already hold are re-marked in the state,
// and the conversations we share with the person are fetched again for the
// server's unread counts and previews.
import { api } from './api.js';
import { markBlocked, state } from './state.js';

export function createBlocks({ sync }) {
  // except: a conversation about to be left, which a late answer to its
  // refresh must not bring back.
  async function setBlock(user, blocked, except) {
    await (blocked ? api.block(user.id) : api.unblock(user.id));
    markBlocked(user, blocked);
    refreshShared(user.id, except);
  }

  // One at a time, in the background: a person can share many groups.
  async function refreshShared(userId, except) {
    const shared = [...state.conversations.values()]
      .filter((conv) => conv.id !== except && conv.members.some((m) => m.user.id === userId))
      .map((conv) => conv.id);
    for (const convId of shared) {
      if (state.conversations.has(convId)) await sync.refreshConversation(convId);
    }
  }

  return {
    block: (user, { except } = {}) => setBlock(user, true, except),
    unblock: (user) => setBlock(user, false),
  };
}

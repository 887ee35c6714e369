// The three answers to a chat request (PROTOCOL.md §5.11): accept it, decline
// it, or block the person who started it and decline it. The list's
// Requests section and the open request's bar both answer through these.
import { api } from './api.js';
import {
  conversationTitle, removeConversation, requestStarter, state, upsertConversation,
} from './state.js';

export function createRequests({ blocks, toast }) {
  // One answer per request at a time: a double click sends nothing twice.
  const answering = new Set();

  async function answer(convId, action) {
    const conv = state.conversations.get(convId);
    if (!conv || answering.has(convId)) return;
    answering.add(convId);
    try {
      await action(conv);
    } catch (error) {
      toast(error.message);
    } finally {
      answering.delete(convId);
    }
  }

  // Accepted, it moves to the other conversations, read marks and presence
  // now shared with its members.
  const accept = (convId) => answer(convId, async (conv) => {
    const { conversation } = await api.acceptRequest(conv.id);
    upsertConversation(conversation);
  });

  const decline = (convId) => answer(convId, async (conv) => {
    await api.declineRequest(conv.id);
    removeConversation(conv.id);
    toast(`You declined ${conversationTitle(conv)}.`);
  });

  // Block first: if the decline then fails, the person is blocked at least,
  // and the request stays to be declined again.
  const block = (convId) => answer(convId, async (conv) => {
    const starter = requestStarter(conv);
    if (starter && !state.blocked.has(starter.id)) await blocks.block(starter, { except: conv.id });
    await api.declineRequest(conv.id);
    removeConversation(conv.id);
    toast(starter ? `${starter.display_name} is blocked.` : `You declined ${conversationTitle(conv)}.`);
  });

  return { accept, decline, block };
}

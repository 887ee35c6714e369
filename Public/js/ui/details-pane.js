// Details of the open conversation: members and their presence; for group
// owners adding and removing members; leaving a group; blocking the other
// person of a direct chat.
import { api } from '../api.js';
import { conversationTitle, otherMembers, removeConversation, state } from '../state.js';
import { $, h, reconcile } from './dom.js';
import { lastSeen } from './format.js';
import { avatar, createUserSearch } from './user-search.js';

export function createDetailsPane({ sync, blocks, toast, panels }) {
  const pane = $('details-pane');
  const members = $('member-list');
  const addBox = $('add-member');
  const leave = $('leave-button');
  const block = $('block-button');

  const addSearch = createUserSearch({
    input: $('add-member-search'),
    results: $('add-member-results'),
    exclude: () => new Set(openConversation()?.members.map((m) => m.user.id)),
    onPick: (user) => act(async (conv) => {
      await api.addMember(conv.id, user.id);
      addSearch.clear();
      await sync.refreshConversation(conv.id);
      toast(`${user.display_name} was added.`);
    }),
    toast,
  });

  members.addEventListener('click', (event) => {
    const button = event.target.closest('button.remove-member');
    if (!button) return;
    const userId = button.closest('li').dataset.userId;
    act(async (conv) => {
      await api.removeMember(conv.id, userId);
      await sync.refreshConversation(conv.id);
    });
  });

  leave.addEventListener('click', () => act(async (conv) => {
    await api.removeMember(conv.id, state.me.id);
    panels.close(pane);
    removeConversation(conv.id);
    toast(`You left ${conversationTitle(conv)}.`);
  }));

  block.addEventListener('click', () => act(async (conv) => {
    const { user } = otherMembers(conv)[0];
    const blocked = state.blocked.has(user.id);
    await (blocked ? blocks.unblock(user) : blocks.block(user));
    toast(blocked ? `${user.display_name} is unblocked.` : `${user.display_name} is blocked.`);
  }));

  function openConversation() {
    return state.conversations.get(state.openId);
  }

  async function act(action) {
    const conv = openConversation();
    if (!conv) return;
    try {
      await action(conv);
    } catch (error) {
      toast(error.message);
    }
  }

  function render() {
    const conv = openConversation();
    if (!conv) {
      panels.close(pane);
      return;
    }
    if (pane.hidden) return;
    const owner = conv.kind === 'group' && conv.owner_id === state.me.id;
    reconcile(members, conv.members, (m) => m.user.id,
      (m) => h('li', { dataset: { userId: m.user.id } }),
      (li, m) => renderMember(li, m, conv, owner));
    addBox.hidden = !owner;
    leave.hidden = conv.kind !== 'group';
    block.hidden = conv.kind !== 'direct';
    const other = otherMembers(conv)[0];
    if (conv.kind === 'direct' && other) {
      const blocked = state.blocked.has(other.user.id);
      block.textContent = blocked ? 'Unblock' : 'Block';
      block.dataset.blocked = String(blocked);
    }
  }

  return { render };
}

// Rebuilt only when what it shows changed, so focus on its button survives
// unrelated updates.
function renderMember(li, member, conv, owner) {
  const me = member.user.id === state.me.id;
  const presence = me ? 'You' : lastSeen(state.presence.get(member.user.id));
  const isOwner = conv.owner_id === member.user.id;
  const removable = owner && !me;
  const signature = JSON.stringify([member.user.display_name, presence, isOwner, removable]);
  if (li.dataset.signature === signature) return;
  li.dataset.signature = signature;
  const children = [
    avatar(member.user),
    h('span', { class: 'member-text' },
      h('span', { class: 'user-name' }, member.user.display_name, isOwner && h('span', { class: 'tag' }, 'owner')),
      h('span', { class: 'user-handle' }, `@${member.user.handle} · ${presence}`)),
  ];
  if (removable) {
    children.push(h('button', {
      type: 'button',
      class: 'remove-member quiet',
      'aria-label': `Remove ${member.user.display_name}`,
    }, 'Remove'));
  }
  li.replaceChildren(...children);
}

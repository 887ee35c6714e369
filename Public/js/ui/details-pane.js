// Details of the open conversation: members with their roles and presence;
// for a group's owner and admins adding and removing members (admins remove
// plain members only, like the server) and the group's live invite links;
// for the owner making members admins and back, and handing the group over;
// leaving a group; blocking the other person of a direct chat.
import { api } from '../api.js';
import {
  canManage, conversationTitle, myRole, otherMembers, removeConversation, state, upsertConversation,
} from '../state.js';
import { $, h, reconcile, setText } from './dom.js';
import { fullTime, lastSeen } from './format.js';
import { avatar, botBadge, createUserSearch } from './user-search.js';

export function createDetailsPane({ sync, blocks, toast, panels, confirm }) {
  const pane = $('details-pane');
  const members = $('member-list');
  const addBox = $('add-member');
  const inviteBox = $('invite-box');
  const inviteCreate = $('invite-create-button');
  const inviteList = $('invite-list');
  const leave = $('leave-button');
  const block = $('block-button');
  // The group's live invites (GET …/invites, newest first), by conversation
  // id: fetched when the pane opens on a group this user manages, and again
  // after making or revoking one. loadedFor names the group last fetched
  // while the pane showed; null once the pane closes, so reopening fetches.
  const invites = new Map();
  let loadedFor = null;

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
    const button = event.target.closest('button[data-member-action]');
    if (!button) return;
    const userId = button.closest('li').dataset.userId;
    const action = button.dataset.memberAction;
    act(async (conv) => {
      const user = conv.members.find((m) => m.user.id === userId)?.user;
      if (!user) return;
      if (action === 'remove') {
        await api.removeMember(conv.id, userId);
        await sync.refreshConversation(conv.id);
        return;
      }
      // Handing over cannot be taken back by the one who did it.
      if (action === 'owner' && !await confirm.ask(
        `Make ${user.display_name} the owner of ${conversationTitle(conv)}? You will become an admin, `
        + 'and only the new owner can change roles.', 'Make owner')) return;
      const { conversation } = await api.setRole(conv.id, userId, action);
      upsertConversation(conversation);
      if (action === 'owner') toast(`${user.display_name} is now the owner.`);
    });
  });

  async function loadInvites(convId) {
    try {
      const { invites: live } = await api.invites(convId);
      invites.set(convId, live);
    } catch (error) {
      // No longer the owner or an admin (or a member): the box hides anyway.
      if (error.code !== 'forbidden' && error.code !== 'not_found') toast(error.message);
      invites.delete(convId);
    }
    render();
  }

  inviteCreate.addEventListener('click', () => act(async (conv) => {
    inviteCreate.disabled = true;
    let invite;
    try {
      ({ invite } = await api.createInvite(conv.id));
      invites.set(conv.id, [invite, ...(invites.get(conv.id) ?? []).filter((i) => i.code !== invite.code)]);
      render();
    } finally {
      inviteCreate.disabled = false;
    }
    const field = $(`invite-link-${invite.code}`);
    field?.focus();
    field?.select();
    await loadInvites(conv.id);
  }));

  inviteList.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-invite-action]');
    if (!button) return;
    const { inviteCode: code } = button.closest('li').dataset;
    if (button.dataset.inviteAction === 'copy') copyInvite(code);
    else revokeInvite(code);
  });

  async function copyInvite(code) {
    const field = $(`invite-link-${code}`);
    field.focus();
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
    } catch {
      // No Clipboard API outside HTTPS and localhost: the old way, on the
      // selection; failing that the link stays selected to copy by hand.
      if (!document.execCommand('copy')) {
        toast('Copy the selected link with Ctrl+C (⌘C on a Mac).');
        return;
      }
    }
    toast('Invite link copied.');
  }

  const revokeInvite = (code) => act(async (conv) => {
    try {
      await api.revokeInvite(conv.id, code);
    } catch (error) {
      // Gone already (revoked in another tab): what was asked for is done.
      if (error.code !== 'not_found') throw error;
    }
    invites.set(conv.id, (invites.get(conv.id) ?? []).filter((i) => i.code !== code));
    render();
    inviteCreate.focus();
    toast('The invite link no longer works.');
    await loadInvites(conv.id);
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
    if (pane.hidden) {
      loadedFor = null;
      return;
    }
    const role = myRole(conv);
    reconcile(members, conv.members, (m) => m.user.id,
      (m) => h('li', { dataset: { userId: m.user.id } }),
      (li, m) => renderMember(li, m, conv, role));
    addBox.hidden = !canManage(conv);
    renderInvite(conv);
    leave.hidden = conv.kind !== 'group';
    block.hidden = conv.kind !== 'direct';
    const other = otherMembers(conv)[0];
    if (conv.kind === 'direct' && other) {
      const blocked = state.blocked.has(other.user.id);
      block.textContent = blocked ? 'Unblock' : 'Block';
      block.dataset.blocked = String(blocked);
    }
  }

  function renderInvite(conv) {
    const manages = canManage(conv);
    inviteBox.hidden = !manages;
    if (!manages) {
      if (loadedFor === conv.id) loadedFor = null;
      return;
    }
    if (loadedFor !== conv.id) {
      loadedFor = conv.id;
      loadInvites(conv.id);
    }
    const live = invites.get(conv.id) ?? [];
    inviteList.hidden = live.length === 0;
    reconcile(inviteList, live, (invite) => invite.code, createInviteRow, renderInviteRow);
    // Numbered in the accessible names, so each control says which link.
    [...inviteList.children].forEach((li, index) => {
      const n = live.length > 1 ? ` ${index + 1}` : '';
      setText(li.querySelector('label'), `Invite link${n}`);
      li.querySelector('[data-invite-action="copy"]').setAttribute('aria-label', `Copy invite link${n}`);
      li.querySelector('[data-invite-action="revoke"]').setAttribute('aria-label', `Revoke invite link${n}`);
    });
  }

  // On log out: no link of this user's may show for the next one.
  function reset() {
    invites.clear();
    loadedFor = null;
    inviteList.replaceChildren();
    inviteList.hidden = true;
  }

  return { render, reset };
}

// One live invite: its link, Copy, when it stops working, uses, Revoke.
function createInviteRow(invite) {
  const fieldId = `invite-link-${invite.code}`;
  return h('li', { class: 'invite-shown', dataset: { inviteCode: invite.code } },
    h('label', { for: fieldId, class: 'visually-hidden' }, 'Invite link'),
    h('div', { class: 'invite-row' },
      h('input', { id: fieldId, class: 'invite-link', readonly: true, spellcheck: 'false' }),
      h('button', { type: 'button', class: 'primary', dataset: { inviteAction: 'copy' } }, 'Copy')),
    h('p', { class: 'invite-about invite-expiry' }),
    h('button', { type: 'button', class: 'danger', dataset: { inviteAction: 'revoke' } }, 'Revoke link'));
}

function renderInviteRow(li, invite) {
  const field = li.querySelector('input');
  const link = `${location.origin}/#/invite/${encodeURIComponent(invite.code)}`;
  if (field.value !== link) field.value = link;
  const uses = invite.uses ?? 0;
  const count = invite.max_uses == null
    ? `${uses} ${uses === 1 ? 'use' : 'uses'}, no limit`
    : `${uses} of ${invite.max_uses} ${invite.max_uses === 1 ? 'use' : 'uses'}`;
  setText(li.querySelector('.invite-expiry'), `It stops working ${fullTime(invite.expires_ts)}. ${count}.`);
}
// The owner_id of an older server's copy still names its owner.
const roleOf = (member, conv) => member.role ?? (member.user.id === conv.owner_id ? 'owner' : 'member');

// What the signed-in member (of role `myRole`) may do to this member: the
// owner changes anyone else's role and removes anyone; an admin removes
// plain members (§9.4).
function actionsOn(member, conv, role) {
  if (conv.kind !== 'group' || member.user.id === state.me.id) return [];
  const theirs = roleOf(member, conv);
  const name = member.user.display_name;
  const actions = [];
  if (role === 'owner') {
    if (theirs === 'member') actions.push(['admin', 'Make admin', `Make ${name} an admin`]);
    if (theirs === 'admin') actions.push(['member', 'Make member', `Make ${name} a member, not an admin`]);
    actions.push(['owner', 'Make owner', `Make ${name} the owner`]);
  }
  if (role === 'owner' || (role === 'admin' && theirs === 'member')) actions.push(['remove', 'Remove', `Remove ${name}`]);
  return actions;
}

// Rebuilt only when what it shows changed, so focus on its button survives
// unrelated updates.
function renderMember(li, member, conv, role) {
  const me = member.user.id === state.me.id;
  const presence = me ? 'You' : lastSeen(state.presence.get(member.user.id));
  const theirs = conv.kind === 'group' ? roleOf(member, conv) : 'member';
  const actions = actionsOn(member, conv, role);
  const signature = JSON.stringify([member.user.display_name, member.user.bot, presence, theirs, actions]);
  if (li.dataset.signature === signature) return;
  li.dataset.signature = signature;
  li.dataset.role = theirs;
  const children = [
    avatar(member.user),
    h('span', { class: 'member-text' },
      h('span', { class: 'user-name' }, member.user.display_name, botBadge(member.user),
        theirs !== 'member' && h('span', { class: 'tag role-tag' }, theirs)),
      h('span', { class: 'user-handle' }, `@${member.user.handle} · ${presence}`)),
  ];
  // Remove beside the name, the owner's role changes on a line below.
  const button = ([action, text, label]) => h('button', {
    type: 'button',
    class: action === 'remove' ? 'remove-member quiet' : 'quiet',
    dataset: { memberAction: action },
    'aria-label': label,
  }, text);
  const roleActions = actions.filter(([action]) => action !== 'remove');
  children.push(...actions.filter(([action]) => action === 'remove').map(button));
  if (roleActions.length) children.push(h('div', { class: 'member-actions' }, ...roleActions.map(button)));
  li.replaceChildren(...children);
}

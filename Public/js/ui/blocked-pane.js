// The people I block, each with an Unblock button.
import { api } from '../api.js';
import { setBlocked, state } from '../state.js';
import { $, h, reconcile } from './dom.js';
import { avatar, botBadge } from './user-search.js';

export function createBlockedPane({ blocks, toast }) {
  const list = $('blocked-list');
  const empty = $('blocked-empty');

  list.addEventListener('click', async (event) => {
    if (!event.target.closest('button.unblock-button')) return;
    const user = state.blocked.get(event.target.closest('li').dataset.userId);
    try {
      await blocks.unblock(user);
      toast(`${user.display_name} is unblocked.`);
    } catch (error) {
      toast(error.message);
    }
  });

  // Read again on each opening: blocks can change in another tab.
  async function load() {
    try {
      setBlocked((await api.blocks()).users);
    } catch (error) {
      toast(error.message);
    }
  }

  function render() {
    const users = [...state.blocked.values()];
    reconcile(list, users, (user) => user.id, (user) =>
      h('li', { dataset: { userId: user.id } },
        avatar(user),
        h('span', { class: 'member-text' },
          h('span', { class: 'user-name' }, user.display_name, botBadge(user)),
          h('span', { class: 'user-handle' }, `@${user.handle}`)),
        h('button', { type: 'button', class: 'unblock-button quiet', 'aria-label': `Unblock ${user.display_name}` }, 'Unblock')),
    () => {});
    empty.hidden = users.length > 0;
  }

  return { load, render };
}

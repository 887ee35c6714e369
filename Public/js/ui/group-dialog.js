// The "New group" dialog: a title and members picked by search.
import { api } from '../api.js';
import { state, upsertConversation } from '../state.js';
import { $, h } from './dom.js';
import { avatar, botBadge, createUserSearch } from './user-search.js';

export function createGroupDialog({ toast, onCreated }) {
  const dialog = $('group-dialog');
  const form = $('group-form');
  const title = $('group-title');
  const chosenList = $('group-members');
  const error = $('group-error');
  const create = $('create-group-button');
  const chosen = new Map(); // user id → user, in the order picked

  const search = createUserSearch({
    input: $('group-member-search'),
    results: $('group-member-results'),
    exclude: () => new Set([state.me.id, ...chosen.keys()]),
    onPick: (user) => {
      chosen.set(user.id, user);
      renderChosen();
      search.clear();
      $('group-member-search').focus();
    },
    toast,
  });

  $('new-group-button').addEventListener('click', open);
  $('group-cancel-button').addEventListener('click', () => dialog.close());
  chosenList.addEventListener('click', (event) => {
    const li = event.target.closest('button') && event.target.closest('li');
    if (!li) return;
    chosen.delete(li.dataset.userId);
    renderChosen();
    $('group-member-search').focus();
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    create.disabled = true;
    try {
      const { conversation } = await api.createGroup(title.value, [...chosen.keys()]);
      upsertConversation(conversation);
      dialog.close();
      onCreated(conversation.id);
    } catch (failure) {
      error.textContent = failure.message;
    } finally {
      create.disabled = false;
    }
  });

  function open() {
    form.reset();
    chosen.clear();
    search.clear();
    renderChosen();
    error.textContent = '';
    dialog.showModal();
    title.focus();
  }

  function renderChosen() {
    chosenList.replaceChildren(...[...chosen.values()].map((user) =>
      h('li', { dataset: { userId: user.id } },
        avatar(user),
        h('span', { class: 'user-name' }, user.display_name, botBadge(user)),
        h('button', { type: 'button', class: 'chip-remove', 'aria-label': `Remove ${user.display_name}` }, '×'))));
  }

  return { close: () => dialog.close() };
}

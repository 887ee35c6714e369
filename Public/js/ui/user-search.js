// A people search box: debounced prefix search, results as buttons.
// Used to start chats, to pick group members and to add members.
import { api } from '../api.js';
import { h } from './dom.js';
import { hue, initials } from './format.js';

const DEBOUNCE_MS = 200;

export function avatar(user) {
  return h('span', { class: 'avatar', dataset: { hue: hue(user.id) }, 'aria-hidden': 'true' }, initials(user.display_name));
}

// Beside a bot's name wherever a name shows (§9.3); nothing for people.
export function botBadge(user) {
  return user?.bot ? h('span', { class: 'bot-badge' }, 'bot') : null;
}

// exclude() returns the ids not to offer (yourself, people already chosen).
export function createUserSearch({ input, results, exclude, onPick, toast }) {
  let timer = null;
  let latest = 0;

  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(search, DEBOUNCE_MS);
  });
  input.addEventListener('keydown', (event) => {
    const first = results.querySelector('button');
    if (event.key === 'Enter') {
      // Enter picks the first result instead of submitting a surrounding form.
      event.preventDefault();
      first?.click();
    } else if (event.key === 'ArrowDown' && first) {
      event.preventDefault();
      first.focus();
    } else if (event.key === 'Escape' && input.value) {
      event.preventDefault();
      event.stopPropagation();
      clear();
    }
  });
  results.addEventListener('keydown', (event) => {
    const buttons = [...results.querySelectorAll('button')];
    const index = buttons.indexOf(document.activeElement);
    if (event.key === 'ArrowDown') buttons[index + 1]?.focus();
    else if (event.key === 'ArrowUp') (buttons[index - 1] ?? input).focus();
    else if (event.key === 'Escape') input.focus();
    else return;
    event.preventDefault();
    event.stopPropagation();
  });

  async function search() {
    const q = input.value.trim();
    const ticket = ++latest;
    if (!q) return show([]);
    try {
      const { users } = await api.searchUsers(q);
      // A slower answer to an older query must not replace a newer one.
      if (ticket === latest) show(users.filter((user) => !exclude().has(user.id)), q);
    } catch (error) {
      if (ticket === latest) toast(error.message);
    }
  }

  function show(users, q) {
    results.replaceChildren(...users.map((user) =>
      h('li', { dataset: { userHandle: user.handle } },
        h('button', { type: 'button', class: 'user-button', onclick: () => onPick(user) },
          avatar(user),
          h('span', { class: 'user-name' }, user.display_name, botBadge(user)),
          h('span', { class: 'user-handle' }, `@${user.handle}`)))));
    if (q && !users.length) results.append(h('li', { class: 'no-results' }, `No one found for “${q}”`));
  }

  function clear() {
    clearTimeout(timer);
    latest += 1;
    input.value = '';
    show([]);
  }

  return { clear };
}

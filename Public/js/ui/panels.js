// Side panels (details, blocked people): one open at a time, each toggled
// by its button. Escape or the panel's Close button hides it and gives focus
// back to that button.
import { $ } from './dom.js';

export function createPanels() {
  const buttons = new Map(); // panel → the button that toggles it

  function register(panel, button, onOpen) {
    buttons.set(panel, button);
    button.addEventListener('click', () => (panel.hidden ? open(panel, onOpen) : close(panel, true)));
  }

  function open(panel, onOpen) {
    for (const other of buttons.keys()) if (other !== panel) close(other);
    panel.hidden = false;
    buttons.get(panel).setAttribute('aria-expanded', 'true');
    onOpen();
    panel.querySelector('button, input')?.focus();
  }

  function close(panel, giveFocusBack = false) {
    if (panel.hidden) return;
    panel.hidden = true;
    buttons.get(panel).setAttribute('aria-expanded', 'false');
    if (giveFocusBack) buttons.get(panel).focus();
  }

  for (const button of document.querySelectorAll('[data-closes]')) {
    button.addEventListener('click', () => close($(button.dataset.closes), true));
  }
  document.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape' || event.defaultPrevented || document.querySelector('dialog[open]')) return;
    const panel = [...buttons.keys()].find((p) => !p.hidden);
    if (panel) close(panel, true);
  });

  return { register, close };
}

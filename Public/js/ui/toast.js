// A short-lived line of text for results and errors of actions.
import { $ } from './dom.js';

const SHOWN_MS = 6_000;

export function createToast() {
  const el = $('toast');
  let timer = null;
  return function toast(text) {
    el.textContent = text;
    el.hidden = false;
    clearTimeout(timer);
    timer = setTimeout(() => { el.hidden = true; }, SHOWN_MS);
  };
}

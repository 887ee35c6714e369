// Asks before an action that cannot be undone (deleting a message, handing
// a group over), in the page: window.confirm would stop the whole client,
// socket events included, until it is answered.
import { $, setText } from './dom.js';

export function createConfirm() {
  const dialog = $('confirm-dialog');
  const text = $('confirm-text');
  const ok = $('confirm-ok-button');
  let answer = null; // resolves the open question's promise

  $('confirm-form').addEventListener('submit', (event) => {
    event.preventDefault();
    finish(true);
  });
  $('confirm-cancel-button').addEventListener('click', () => finish(false));
  // Escape (the dialog's own cancel) is a no too.
  dialog.addEventListener('cancel', () => finish(false));

  // Settled here, not in the dialog's close event: that one comes later,
  // when a next question may already be open.
  function finish(confirmed) {
    const settle = answer;
    answer = null;
    if (dialog.open) dialog.close();
    settle?.(confirmed);
  }

  // Resolves true when the person confirms; a new question, or logging
  // out, answers an open one with no. Focus starts on Cancel, so a stray
  // Enter does nothing that cannot be undone.
  function ask(question, action) {
    finish(false);
    setText(text, question);
    setText(ok, action);
    dialog.showModal();
    $('confirm-cancel-button').focus();
    return new Promise((resolve) => { answer = resolve; });
  }

  const close = () => finish(false);

  return { ask, close };
}

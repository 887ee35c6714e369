// The signed-in user's account, on servers that mail log-in codes (§9.6):
// the e-mail address linked to it (GET /v1/me), and linking one, or
// another one, with a code sent to it (PUT /v1/me/email, then
// POST /v1/me/email/confirm). From then on a code to that address signs
// this account in.
import { api } from '../api.js';
import { state } from '../state.js';
import { $, setText } from './dom.js';
import { errorText } from './format.js';

const NONE = 'No e-mail address linked';
const WRONG_CODE = 'That code is wrong or has expired. Check it, or send a new one with “Use another address”.';
const TAKEN = 'That address belongs to another account. Sign in there with it, or link another address.';

export function createAccountPane() {
  const pane = $('account-pane');
  const shown = $('account-email');
  const status = $('account-status');
  const error = $('account-error');
  const emailForm = $('link-email-form');
  const codeForm = $('link-code-form');
  const emailField = $('link-email');
  const codeField = $('link-code');
  const buttons = [...pane.querySelectorAll('form button')];

  let email; // the linked address: undefined until known, null for none
  let session = 0; // counts sign-outs: an answer for an earlier user is dropped

  emailForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const address = emailField.value.trim();
    if (!address) {
      showError('Enter the e-mail address to link.', emailField);
      return;
    }
    run(emailField, async (current) => {
      await api.linkEmail(address);
      if (current !== session) return;
      setText($('link-code-sent'), `We sent a code to ${address}.`);
      codeField.value = '';
      step('code');
    });
  });

  codeForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const code = codeField.value.trim();
    if (!code) {
      showError('Enter the code from the e-mail.', codeField);
      return;
    }
    run(codeField, async (current) => {
      let answer;
      try {
        answer = await api.confirmEmail(code);
      } catch (failure) {
        if (failure.status === 409) {
          step('email');
          throw Object.assign(new Error(TAKEN), { field: emailField });
        }
        if (failure.status !== 401) throw failure;
        // The same 401 for a wrong code and an ended session: asking who
        // we are ends the session if it is over.
        await api.me();
        throw new Error(WRONG_CODE);
      }
      if (current !== session) return;
      email = answer.email;
      emailField.value = '';
      codeField.value = '';
      step('email');
      render();
      setText(status, `${email} is linked: a code sent to it signs you in.`);
    });
  });

  $('link-back-button').addEventListener('click', () => {
    setText(error, '');
    step('email');
  });

  // Read on each opening: another tab may have linked one meanwhile.
  async function load() {
    render();
    const current = session;
    try {
      const answer = await api.me();
      if (current !== session) return;
      email = answer.email ?? null;
      render();
    } catch (failure) {
      if (current === session && failure.status !== 401) setText(error, errorText(failure));
    }
  }

  async function run(field, call) {
    const current = session;
    setText(error, '');
    setText(status, '');
    buttons.forEach((b) => { b.disabled = true; });
    try {
      await call(current);
    } catch (failure) {
      if (current === session && failure.status !== 401) showError(errorText(failure), failure.field ?? field);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  function showError(message, field) {
    setText(error, message);
    field.focus();
  }

  function step(next) {
    emailForm.hidden = next !== 'email';
    codeForm.hidden = next !== 'code';
    (next === 'code' ? codeField : emailField).focus();
  }

  function render() {
    if (!state.me) return;
    setText($('account-user'), `Signed in as ${state.me.display_name} (@${state.me.handle})`);
    setText(shown, email === undefined ? '…' : email ?? NONE);
    shown.dataset.linked = String(Boolean(email));
    setText($('link-email-label'), email ? 'Link another e-mail address' : 'Link an e-mail address');
  }

  // On log out: nothing of this user's may show for the next one.
  function reset() {
    session += 1;
    email = undefined;
    emailField.value = '';
    codeField.value = '';
    setText(status, '');
    setText(error, '');
    emailForm.hidden = false;
    codeForm.hidden = true;
  }

  return { load, reset };
}

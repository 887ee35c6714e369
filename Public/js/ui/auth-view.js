// Log in and sign up. Errors show the server's own message.
import { api } from '../api.js';
import { $ } from './dom.js';

export function createAuthView({ onAuthenticated }) {
  const view = $('auth-view');
  const form = $('auth-form');
  const handle = $('auth-handle');
  const password = $('auth-password');
  const displayName = $('auth-display-name');
  const error = $('auth-error');
  const buttons = [$('login-button'), $('signup-button')];

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    run(() => api.logIn(handle.value.trim(), password.value));
  });
  $('signup-button').addEventListener('click', () =>
    run(() => api.signUp(handle.value.trim(), password.value, displayName.value.trim())));

  async function run(call) {
    error.textContent = '';
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const session = await call();
      password.value = '';
      onAuthenticated(session);
    } catch (failure) {
      error.textContent = describe(failure);
      password.focus();
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  function show(message = '') {
    view.hidden = form.hidden = false;
    error.textContent = message;
    (handle.value ? password : handle).focus();
  }

  function hide() {
    view.hidden = form.hidden = true;
    error.textContent = '';
  }

  return { show, hide };
}

function describe(failure) {
  if (failure.code !== 'rate_limited' || !failure.retryAfterMs) return failure.message;
  const minutes = Math.ceil(failure.retryAfterMs / 60_000);
  const wait = failure.retryAfterMs < 60_000
    ? `${Math.ceil(failure.retryAfterMs / 1000)} seconds`
    : `${minutes} ${minutes === 1 ? 'minute' : 'minutes'}`;
  return `${failure.message} (try again in ${wait})`;
}

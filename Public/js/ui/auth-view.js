// Log in and sign up with a handle and a password, or sign in with a code
// sent by e-mail (with a handle for an account the code makes): whichever
// the server offers (GET /v1/sign-in). Errors show the server's own message.
import { api } from '../api.js';
import { $, setText } from './dom.js';
import { errorText } from './format.js';

// What a server without GET /v1/sign-in (404) offers.
const PASSWORD_ONLY = { password: true, email_code: false };
// The sign-in screen waits this long for the answer, then shows the
// password forms and changes when the answer comes.
const OPTIONS_WAIT_MS = 3_000;

const INTRO = {
  password: 'Log in, or pick a handle and a password to sign up.',
  email: 'We will send a 6-digit code to your e-mail address to sign you in.',
  code: 'Enter the code from the e-mail to sign in.',
  none: 'This server offers no way to sign in here.',
};

export function createAuthView({ onAuthenticated }) {
  const view = $('auth-view');
  const intro = $('auth-intro');
  const note = $('auth-note');
  const passwordForm = $('auth-form');
  const emailChoice = $('email-choice');
  const emailForm = $('email-form');
  const codeForm = $('code-form');
  const handle = $('auth-handle');
  const password = $('auth-password');
  const displayName = $('auth-display-name');
  const emailField = $('auth-email');
  const codeField = $('auth-code');
  const codeHandle = $('auth-code-handle');
  const error = $('auth-error');
  const buttons = [...view.querySelectorAll('button')];

  let offered = PASSWORD_ONLY;
  let mode = 'password';
  let codeSentTo = ''; // the address the last code went to
  let wanted = false; // show() called, hide() not since
  const answered = api.signInOptions().then(
    (answer) => {
      const before = startMode();
      offered = { password: answer?.password !== false, email_code: answer?.email_code === true };
      // Shown already (a slow answer): offer what it says, moving on to
      // another form only from the one shown first.
      if (!wanted || view.hidden || mode !== before) return;
      if (startMode() === before) setMode(before);
      else switchTo(startMode());
    },
    () => {},
  );
  const known = Promise.race([answered, new Promise((resolve) => { setTimeout(resolve, OPTIONS_WAIT_MS); })]);

  passwordForm.addEventListener('submit', (event) => {
    event.preventDefault();
    run(() => api.logIn(handle.value.trim(), password.value), password);
  });
  $('signup-button').addEventListener('click', () =>
    run(() => api.signUp(handle.value.trim(), password.value, displayName.value.trim()), password));

  $('email-start-button').addEventListener('click', () => switchTo('email'));
  $('email-cancel-button').addEventListener('click', () => switchTo('password'));
  $('code-back-button').addEventListener('click', () => switchTo('email'));

  emailForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const address = emailField.value.trim();
    if (!address) {
      showError('Enter your e-mail address.', emailField);
      return;
    }
    run(async () => {
      await api.sendLoginCode(address);
      codeSentTo = address;
      setText($('code-sent'), `We sent a code to ${address}.`);
      codeField.value = '';
      switchTo('code');
    }, emailField);
  });

  codeForm.addEventListener('submit', (event) => {
    event.preventDefault();
    run(async () => {
      try {
        return await api.logInWithCode(codeSentTo, codeField.value.trim(), codeHandle.value.trim());
      } catch (failure) {
        // The server says no more than "unauthorized" for any code that
        // does not work: say what to do about it.
        if (failure.status !== 401) throw failure;
        throw new Error('That code is wrong or has expired. Check it, or ask for a new one with “Use another address”.');
      }
    }, codeField);
  });

  // call resolves with a session ({user, token}) to start, or nothing.
  async function run(call, focusOnError) {
    setText(error, '');
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const session = await call();
      if (!session) return;
      password.value = '';
      codeField.value = '';
      codeHandle.value = '';
      onAuthenticated(session);
    } catch (failure) {
      showError(errorText(failure), focusOnError);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  function showError(message, field) {
    setText(error, message);
    field.focus();
  }

  function startMode() {
    if (offered.password) return 'password';
    return offered.email_code ? 'email' : 'none';
  }

  function setMode(next) {
    mode = next;
    passwordForm.hidden = mode !== 'password';
    emailChoice.hidden = mode !== 'password' || !offered.email_code;
    emailForm.hidden = mode !== 'email';
    codeForm.hidden = mode !== 'code';
    $('email-cancel-button').hidden = !offered.password;
    setText(intro, INTRO[mode]);
  }

  function switchTo(next) {
    setText(error, '');
    setMode(next);
    focusField();
  }

  function focusField() {
    if (mode === 'password') (handle.value ? password : handle).focus();
    else if (mode === 'email') emailField.focus();
    else if (mode === 'code') codeField.focus();
  }

  // Shown once the server said how one signs in (at once after the first
  // time), so no form shows that it does not take.
  function show(message = '') {
    wanted = true;
    setText(error, message);
    known.then(() => {
      if (!wanted) return;
      setMode(startMode());
      view.hidden = false;
      focusField();
    });
  }

  function hide() {
    wanted = false;
    view.hidden = true;
    setText(error, '');
    setNote('');
  }

  // A line above the forms about why to sign in (an invite waiting).
  function setNote(text) {
    setText(note, text);
    note.hidden = !text;
  }

  // What the server offers ({password, email_code}), once it said so
  // (password only if it could not be asked).
  const offers = () => answered.then(() => offered);

  return { show, hide, setNote, offers };
}

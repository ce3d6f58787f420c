/** Log in, sign up and confirm the emailed code. */
import { ConfirmSignUpDocument, ResendConfirmationCodeDocument, SignUpDocument } from '../../generated/graphql.ts';
import type { Api } from './api.ts';
import { announce, h } from './dom.ts';

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

export function renderAuth(root: HTMLElement, api: Api, onLoggedIn: () => void): void {
  const status = h('p', { role: 'status', class: 'status' });
  const alert = h('p', { role: 'alert', class: 'error' });
  const email = h('input', { id: 'email', name: 'email', type: 'email', autocomplete: 'username', required: true });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', minlength: 8, required: true });
  const code = h('input', { id: 'code', name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', required: true });

  /** Runs an action with the form's buttons disabled, reporting its error in the alert region. */
  const busy = async (form: HTMLFormElement, action: () => Promise<void>) => {
    const buttons = [...form.querySelectorAll('button')];
    buttons.forEach((b) => (b.disabled = true));
    announce(alert, '');
    try {
      await action();
    } catch (error) {
      announce(alert, message(error));
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  };

  const logIn = async () => {
    await api.logIn(email.value.trim(), password.value);
    onLoggedIn();
  };

  const confirmForm: HTMLFormElement = h(
    'form',
    {
      class: 'card',
      hidden: true,
      'aria-labelledby': 'confirm-title',
      onsubmit: (event) => {
        event.preventDefault();
        void busy(confirmForm, async () => {
          await api.request(ConfirmSignUpDocument, { email: email.value.trim(), code: code.value.trim() }, false);
          announce(status, 'Account confirmed. Logging in…');
          await logIn();
        });
      },
    },
    h('h2', { id: 'confirm-title', tabindex: -1 }, 'Confirm your email'),
    h('p', {}, 'We sent a code to your email address (on a local install: the server log and data/outbox/).'),
    h('label', { for: 'code' }, 'Confirmation code'),
    code,
    h('div', { class: 'row' },
      h('button', { type: 'submit' }, 'Confirm'),
      h('button', {
        type: 'button',
        class: 'secondary',
        onclick: () => void busy(confirmForm, async () => {
          await api.request(ResendConfirmationCodeDocument, { email: email.value.trim() }, false);
          announce(status, 'A new code is on its way.');
        }),
      }, 'Send a new code'),
    ),
  );

  const logInForm: HTMLFormElement = h(
    'form',
    {
      class: 'card',
      'aria-labelledby': 'login-title',
      onsubmit: (event) => {
        event.preventDefault();
        void busy(logInForm, logIn);
      },
    },
    h('h2', { id: 'login-title' }, 'Log in or create an account'),
    h('label', { for: 'email' }, 'Email'),
    email,
    h('label', { for: 'password' }, 'Password'),
    password,
    h('div', { class: 'row' },
      h('button', { type: 'submit' }, 'Log in'),
      h('button', {
        type: 'button',
        class: 'secondary',
        onclick: () => {
          if (!logInForm.reportValidity()) return;
          void busy(logInForm, async () => {
            const data = await api.request(SignUpDocument, { email: email.value.trim(), password: password.value }, false);
            if (data.signUp.confirmed) return logIn();
            logInForm.hidden = true;
            confirmForm.hidden = false;
            code.focus();
          });
        },
      }, 'Sign up'),
    ),
  );

  root.replaceChildren(h('main', { class: 'auth' }, h('h1', {}, 'gptql'), logInForm, confirmForm, status, alert));
  email.focus();
}

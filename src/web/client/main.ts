/** The chat page's entry point: the log-in form, or the chat once a session exists. */
import { Api } from './api.ts';
import { renderAuth } from './auth.ts';
import { renderChat } from './chat.ts';

const root = document.getElementById('app');
if (!root) throw new Error('#app is missing from the page');

const api = new Api();
const showAuth = () => renderAuth(root, api, () => renderChat(root, api));
api.onSignedOut = showAuth;

if (api.signedIn) renderChat(root, api);
else showAuth();

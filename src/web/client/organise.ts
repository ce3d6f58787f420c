/**
 * The open conversation's pin, archive, folder and share controls. Changes show in the sidebar
 * (`changed`); a share link is shown ready to copy.
 */
import {
  ArchiveConversationDocument,
  ChatFoldersDocument,
  CreateFolderDocument,
  MoveConversationDocument,
  PinConversationDocument,
  ShareConversationDocument,
} from '../../generated/graphql.ts';
import type { Api } from './api.ts';
import { announce, h } from './dom.ts';

interface Shown {
  id: string;
  pinned: boolean;
  archived: boolean;
  folder: { id: string } | null;
}

const NEW_FOLDER = '__new__';

export function organiseControls(api: Api, status: HTMLElement, report: (error: unknown) => void, changed: () => void) {
  let current: Shown | undefined;
  const pin = h('button', { type: 'button', class: 'secondary' }, 'Pin');
  const archive = h('button', { type: 'button', class: 'secondary' }, 'Archive');
  const share = h('button', { type: 'button', class: 'secondary' }, 'Share');
  const folder = h('select', { id: 'conversation-folder', 'aria-label': 'Folder' });
  const link = h('input', { id: 'share-link', 'aria-label': 'Share link', readonly: true, hidden: true });

  const render = () => {
    if (!current) return;
    pin.textContent = current.pinned ? 'Unpin' : 'Pin';
    archive.textContent = current.archived ? 'Unarchive' : 'Archive';
    folder.value = current.folder?.id ?? '';
  };
  const run = async (work: () => Promise<Partial<Shown>>, done: string) => {
    if (!current) return;
    try {
      Object.assign(current, await work());
      render();
      announce(status, done);
      changed();
    } catch (error) {
      report(error);
    }
  };
  const loadFolders = async () => {
    const { folders } = await api.request(ChatFoldersDocument, {});
    folder.replaceChildren(
      h('option', { value: '' }, 'No folder'),
      ...folders.map((f) => h('option', { value: f.id }, f.name)),
      h('option', { value: NEW_FOLDER }, 'New folder…'),
    );
    render();
  };

  pin.addEventListener('click', () => current && void run(async () => (await api.request(PinConversationDocument, { id: current!.id, pinned: !current!.pinned })).pinConversation, current.pinned ? 'Unpinned.' : 'Pinned.'));
  archive.addEventListener('click', () => current && void run(async () => (await api.request(ArchiveConversationDocument, { id: current!.id, archived: !current!.archived })).archiveConversation, current.archived ? 'Unarchived.' : 'Archived.'));
  folder.addEventListener('change', () => {
    if (!current) return;
    const chosen = folder.value;
    void run(async () => {
      let folderId: string | null = chosen || null;
      if (chosen === NEW_FOLDER) {
        const name = prompt('Folder name')?.trim();
        if (!name) return { folder: current!.folder };
        folderId = (await api.request(CreateFolderDocument, { name })).createFolder.id;
        await loadFolders();
      }
      return (await api.request(MoveConversationDocument, { id: current!.id, folderId })).moveConversation;
    }, 'Folder changed.');
  });
  share.addEventListener('click', async () => {
    if (!current) return;
    try {
      const { shareConversation } = await api.request(ShareConversationDocument, { id: current.id });
      link.value = shareConversation.url;
      link.hidden = false;
      link.focus();
      link.select();
      announce(status, 'Share link created: anyone with it can read this conversation as it is now.');
    } catch (error) {
      report(error);
    }
  });

  return {
    elements: [pin, archive, h('span', { class: 'field-inline' }, folder), share, link],
    show(conversation: Shown) {
      current = { id: conversation.id, pinned: conversation.pinned, archived: conversation.archived, folder: conversation.folder };
      link.hidden = true;
      void loadFolders().catch(report);
    },
  };
}

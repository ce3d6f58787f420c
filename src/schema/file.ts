import { actor } from '../observability/audit.ts';
import { FileRepository, type FileRecord } from '../store/files.ts';
import { builder, pageArgs, toConnection } from './builder.ts';
import { globalId, rawId } from './global-id.ts';
import { NodeRef } from './node.ts';

export const StoredFileRef = builder.objectRef<FileRecord>('StoredFile').implement({
  interfaces: [NodeRef],
  description: 'An uploaded file. Its bytes: `GET /files/{id}` with the bearer token.',
  fields: (t) => ({
    id: t.id({ description: 'The file’s global id: what `sendMessage(fileIds)` and `deleteFile` take.', resolve: (f) => globalId('StoredFile', f.fileId) }),
    name: t.exposeString('name', { description: 'The name it was uploaded with, sanitised.' }),
    contentType: t.exposeString('contentType', { description: 'Recognised from the bytes, not from the name.' }),
    size: t.exposeInt('size', { description: 'Bytes.' }),
    downloadPath: t.string({ description: 'Path of the download route, relative to the API.', resolve: (f) => `/files/${encodeURIComponent(globalId('StoredFile', f.fileId))}` }),
    createdAt: t.field({ type: 'DateTime', description: 'When it was uploaded.', resolve: (f) => f.createdAt }),
  }),
});

const StoredFileConnection = builder.connectionObject({ type: StoredFileRef, name: 'StoredFileConnection', description: 'A page of your files, newest first.' }, { description: 'A file in a page, with its cursor.' });


builder.queryFields((t) => ({
  file: t.withAuth({ authenticated: true }).field({
    type: StoredFileRef,
    description: 'One of your files; another user’s is NOT_FOUND.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) => context.services.files.own(context.identity.userId, rawId('StoredFile', args.id)),
  }),
  files: t.withAuth({ authenticated: true }).field({
    type: StoredFileConnection,
    description: 'The user’s files, newest first.',
    args: pageArgs,
    resolve: async (_root, args, context) =>
      toConnection(await context.services.files.list(context.identity.userId, args), FileRepository.cursorOf, args.after),
  }),
}));

builder.mutationFields((t) => ({
  uploadFile: t.withAuth({ authenticated: true }).field({
    type: StoredFileRef,
    description: `Stores a file (multipart request; at most UPLOAD_MAX_BYTES). Accepted: UTF-8 text, Markdown, JSON, CSV, PDF, PNG, JPEG, GIF, WebP.`,
    args: { file: t.arg({ type: 'File', required: true }) },
    resolve: async (_root, args, context) => {
      // yoga's File may be its own ponyfill, whose stream Readable.fromWeb refuses; every
      // ReadableStream is async-iterable, which is all the upload needs.
      const body = args.file.stream() as unknown as AsyncIterable<Uint8Array>;
      const record = await context.services.files.upload(context.identity.userId, { name: args.file.name, body });
      context.services.audit('file.uploaded', { ...actor(context), fileId: record.fileId, size: record.size, contentType: record.contentType });
      return record;
    },
  }),
  deleteFile: t.withAuth({ authenticated: true }).id({
    description: 'Deletes the file’s bytes and record; returns its id.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, context) => {
      const id = rawId('StoredFile', args.id);
      await context.services.files.delete(context.identity.userId, id);
      context.services.audit('file.deleted', { ...actor(context), fileId: id });
      return globalId('StoredFile', id);
    },
  }),
}));

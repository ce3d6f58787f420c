/**
 * File upload (GraphQL multipart request) and conversation export (a bearer-authenticated GET),
 * the two calls that are not plain JSON GraphQL.
 */
import { UploadFileDocument, type UploadFileMutation } from '../../generated/graphql.ts';
import { ApiError, type Api } from './api.ts';
import { operationBody } from './operations.ts';

/** Uploads one file; returns its id, to pass as `sendMessage(input: { fileIds })`. */
export async function uploadFile(api: Api, file: File): Promise<string> {
  const form = new FormData();
  form.append('operations', JSON.stringify(operationBody(UploadFileDocument, { file: null as unknown as File })));
  form.append('map', JSON.stringify({ 0: ['variables.file'] }));
  form.append('0', file, file.name);
  // A multipart POST is one a cross-site form could send; the header is what proves it is not.
  const response = await api.fetch('/graphql', { method: 'POST', body: form, headers: { 'x-graphql-csrf': '1' } });
  const result = (await response.json()) as { data?: UploadFileMutation; errors?: { message: string; extensions?: { code?: string } }[] };
  const id = result.data?.uploadFile?.id;
  if (!id) throw new ApiError(result.errors?.[0]?.message ?? `Upload failed (${response.status})`, result.errors?.[0]?.extensions?.code);
  return id;
}

export type ExportFormat = 'json' | 'md' | 'pdf';

/** The name the server suggests, else one made from the title. */
function fileName(response: Response, title: string, format: ExportFormat): string {
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(response.headers.get('content-disposition') ?? '');
  if (match?.[1]) return decodeURIComponent(match[1]);
  const safe = title.replace(/[^\p{L}\p{N} ._-]+/gu, '').trim() || 'conversation';
  return `${safe}.${format}`;
}

/**
 * A plain link cannot carry the bearer token, so the export is fetched with it and handed to
 * the browser as a download from a blob URL.
 */
export async function downloadExport(api: Api, conversationId: string, title: string, format: ExportFormat): Promise<void> {
  const response = await api.fetch(`/conversations/${encodeURIComponent(conversationId)}/export?format=${format}`);
  if (!response.ok) throw new ApiError(`Export failed (HTTP ${response.status})`);
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement('a'), { href: url, download: fileName(response, title, format) });
  document.body.append(link);
  link.click();
  link.remove();
  // The download has taken its copy once the click is handled.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * The daily token meter beside the send button: what is left of today's quota (or what was used,
 * when there is none), kept current by the `usageChanged` subscription; once the quota is used
 * up it says so, with the local time it resets.
 */
import { ChatUsageChangedDocument, ChatUsageDocument, type ChatUsageDayFragment } from '../../generated/graphql.ts';
import type { Api } from './api.ts';
import { h } from './dom.ts';

const number = new Intl.NumberFormat();

export function usageMeter(api: Api): { element: HTMLElement; refresh(): Promise<void> } {
  const element = h('span', { class: 'usage', id: 'usage-meter', role: 'status' });
  const show = ({ day }: ChatUsageDayFragment) => {
    element.classList.toggle('exhausted', day.remaining === 0);
    if (day.limit === null || day.remaining === null) element.textContent = `${number.format(day.totalTokens)} tokens used today`;
    else if (day.remaining === 0) element.textContent = `Daily token quota used up; it resets at ${new Date(day.resetsAt as string).toLocaleString()}`;
    else element.textContent = `${number.format(day.remaining)} of ${number.format(day.limit)} tokens left today`;
  };
  const refresh = async () => {
    const { me } = await api.request(ChatUsageDocument, {});
    show(me.usage);
  };
  // The meter is a courtesy: a lost subscription leaves the last figures, refreshed after each reply.
  api.subscribe(ChatUsageChangedDocument, {}, { next: (data) => show(data.usageChanged), error: () => {}, complete: () => {} });
  return { element, refresh };
}

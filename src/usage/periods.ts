/**
 * Usage is counted per UTC day and per UTC calendar month: the periods quotas reset on and
 * reports group by. Days are ISO dates (`2026-12-01`), which sort as they follow each other.
 */
const DAY_MS = 86_400_000;

export const dayOf = (at: Date): string => at.toISOString().slice(0, 10);

/** The first day of `at`'s month. */
export const monthStartOf = (at: Date): string => `${at.toISOString().slice(0, 7)}-01`;

export const nextDayStart = (at: Date): Date => new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate() + 1));

export const nextMonthStart = (at: Date): Date => new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));

export const isDayStart = (at: Date): boolean => at.getTime() % DAY_MS === 0;

/** The days from `from` (inclusive) to `to` (exclusive), both at a UTC midnight. */
export function daysBetween(from: Date, to: Date): string[] {
  const days: string[] = [];
  for (let t = from.getTime(); t < to.getTime(); t += DAY_MS) days.push(dayOf(new Date(t)));
  return days;
}

export const daysSpanned = (from: Date, to: Date): number => (to.getTime() - from.getTime()) / DAY_MS;

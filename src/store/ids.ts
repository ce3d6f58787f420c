import { monotonicFactory } from 'ulid';

/**
 * ULIDs sort by creation time, which is what makes "newest first" and "chronological" plain
 * key-ordered Queries. Monotonic so ids made in the same millisecond still sort in order.
 */
export const newId = monotonicFactory();

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
export const isId = (value: string): boolean => ULID.test(value);

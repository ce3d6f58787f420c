/**
 * What some suites need besides npm packages: a Redis server and Debian's Chromium. Every suite
 * takes their locations from here, so that the global setup (services-setup.ts) probes what the
 * suites will use, and one REDIS_URL points them all elsewhere.
 */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const CHROMIUM = '/usr/bin/chromium';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Redis answered PING at REDIS_URL when the run started. */
    redisAvailable: boolean;
    /** CHROMIUM exists and is executable. */
    chromiumAvailable: boolean;
    /** One line per missing service, repeated under the summary by services-reporter.ts. */
    missingServices: string[];
  }
}

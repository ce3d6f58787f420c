import { serverAudits } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/harness.ts';

// With every plugin as deployed, and with @defer/@stream turned on too (GRAPHQL_DEFER).
describe.each([['default', {}], ['GRAPHQL_DEFER=true', { GRAPHQL_DEFER: 'true' }]] as const)('GraphQL over HTTP conformance (graphql-http server audits), %s', (_name, env) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(env);
  });
  afterAll(() => t.stop());

  // Every MUST and SHOULD audit must be ok; MAY audits are optional by the spec.
  const audits = serverAudits({ url: () => `${t.url}/graphql` }).filter((audit) => /^(MUST|SHOULD)\b/.test(audit.name));
  it('has the audits to run', () => expect(audits.length).toBeGreaterThan(30));
  for (const audit of audits) {
    it(audit.name, async () => {
      const result = await audit.fn();
      expect(result.status, 'reason' in result ? result.reason : undefined).toBe('ok');
    });
  }
});

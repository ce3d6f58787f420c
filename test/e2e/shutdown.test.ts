import { describe, expect, it } from 'vitest';
import { ConversationsDocument } from '../../src/generated/graphql.ts';
import { startTestApp } from '../support/harness.ts';

describe('stopping the API', () => {
  it('answers the requests it has begun before it closes the store they read', async () => {
    const test = await startTestApp();
    const user = await test.newUser();
    const count = 20;
    let begun = 0;
    const allBegun = new Promise<void>((resolve) => test.app.server.on('request', () => ++begun === count && resolve()));
    const responses = Array.from({ length: count }, () => test.gql(ConversationsDocument, { first: 20 }, user.accessToken));
    await allBegun;
    await test.stop();
    for (const response of await Promise.all(responses)) {
      expect(response.status).toBe(200);
      expect(response.errors).toBeUndefined();
      expect(response.data?.conversations.edges).toEqual([]);
    }
  });
});

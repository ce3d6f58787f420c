import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';
import { withGeneratedTables } from './config-docs.ts';

describe('config', () => {
  it('runs on embedded defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      role: 'all',
      port: 4000,
      dynamo: { mode: 'embedded', createTables: true, tables: { conversations: 'gptql-conversations', messages: 'gptql-messages' } },
      auth: { provider: 'local', issuer: 'http://localhost:4000' },
      redis: undefined,
      model: { device: 'cpu' },
    });
    expect(config.dataDir).toBe(path.resolve('data'));
  });

  it('switches adapters from the variables operators know', () => {
    const config = loadConfig({
      AWS_REGION: 'eu-west-1',
      COGNITO_USER_POOL_ID: 'eu-west-1_AbC123',
      COGNITO_CLIENT_ID: 'client',
      REDIS_HOST: 'redis.internal',
      REDIS_PORT: '6380',
      DYNAMODB_MESSAGES_TABLE: 'prod-messages',
    });
    expect(config.dynamo).toMatchObject({ mode: 'aws', createTables: false, tables: { messages: 'prod-messages' } });
    expect(config.auth).toMatchObject({ provider: 'cognito', userPoolId: 'eu-west-1_AbC123' });
    expect(config.redis).toEqual({ url: 'redis://redis.internal:6380' });
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['ROLE', 'both'],
    ['DEVICE', 'tpu'],
    ['RATE_LIMIT_PER_MINUTE', '-5'],
    ['REDIS_URL', 'http://x'],
    ['S3_BUCKET_NAME', 'Bad_Bucket'],
    ['DYNAMODB_ENDPOINT', 'not a url'],
    ['TRUST_PROXY', 'not-an-address'],
    ['GRAPHQL_MAX_DEPTH', '0'],
    ['GRAPHQL_INTROSPECTION', 'maybe'],
  ])('refuses %s=%s with a message naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`${name}=`));
  });

  it('refuses inconsistent combinations', () => {
    expect(() => loadConfig({ COGNITO_USER_POOL_ID: 'eu-west-1_AbC123', AWS_REGION: 'eu-west-1' })).toThrow(/COGNITO_CLIENT_ID/);
    expect(() => loadConfig({ REDIS_URL: 'redis://a', REDIS_HOST: 'b' })).toThrow(/REDIS_URL or REDIS_HOST/);
  });

  it('has its table in the README, up to date', () => {
    const readme = fs.readFileSync('README.md', 'utf8');
    expect(readme, 'run `npm run docs:config`').toBe(withGeneratedTables(readme));
  });
});

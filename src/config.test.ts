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
    ['ADMIN_EMAILS', 'root@example.com, not-an-email'],
  ])('refuses %s=%s with a message naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`${name}=`));
  });

  it('reads ADMIN_EMAILS as a set of lower-case addresses, for either provider', () => {
    expect([...loadConfig({ ADMIN_EMAILS: ' Root@Example.com, ops@example.org ' }).auth.adminEmails]).toEqual(['root@example.com', 'ops@example.org']);
    expect(loadConfig({}).auth.adminEmails.size).toBe(0);
    const cognito = loadConfig({ COGNITO_USER_POOL_ID: 'eu-west-1_AbC123', COGNITO_CLIENT_ID: 'client', AWS_REGION: 'eu-west-1', ADMIN_EMAILS: 'root@example.com' });
    expect([...cognito.auth.adminEmails]).toEqual(['root@example.com']);
  });

  it('refuses inconsistent combinations', () => {
    expect(() => loadConfig({ COGNITO_USER_POOL_ID: 'eu-west-1_AbC123', AWS_REGION: 'eu-west-1' })).toThrow(/COGNITO_CLIENT_ID/);
    expect(() => loadConfig({ REDIS_URL: 'redis://a', REDIS_HOST: 'b' })).toThrow(/REDIS_URL or REDIS_HOST/);
  });

  describe('MODEL_PATH', () => {
    const folders = (env: Record<string, string>) => loadConfig(env).model.folders;

    it('takes a list of name=path and bare paths, named after their folder, in order', () => {
      expect(folders({ MODEL_PATH: 'llama-3.2-1b=/models/a, /models/gpt2-small/ ,tiny_v2=./rel/x' })).toEqual([
        { name: 'llama-3.2-1b', path: '/models/a' },
        { name: 'gpt2-small', path: '/models/gpt2-small/' },
        { name: 'tiny_v2', path: './rel/x' },
      ]);
      expect(loadConfig({ MODEL_PATH: '/m/one', MODEL_SIZE: 'tiny' }).model.size).toBeUndefined();
    });

    it('is one entry without it: the shipped model, or the MODEL_SIZE preset under DATA_DIR', () => {
      expect(folders({})).toEqual([{ name: 'default', path: expect.stringMatching(/model\/default$/) }]);
      expect(folders({ MODEL_SIZE: 'tiny', DATA_DIR: '/var/gptql' })).toEqual([{ name: 'random-tiny', path: '/var/gptql/models/random-tiny' }]);
    });

    it.each([
      ['a=/m/1,,b=/m/2', /MODEL_PATH=.*entry 2 is empty/],
      ['a=/m/1,', /entry 2 is empty/],
      ['a=', /entry 1 \("a="\) names no folder/],
      ['a=/m/1,a=/m/2', /model name "a" is given twice/],
      ['/m/x,/n/x', /model name "x" is given twice; name one of them with name=path/],
      ['bad name=/m/1', /model name "bad name" is not valid \(letters, digits, \. _ - only, at most 64 characters\)/],
      ['/models/My Model', /model name "My Model" is not valid .*; give it one as name=path/],
      [`${'x'.repeat(65)}=/m`, /is not valid/],
      ['a:b=/m', /model name "a:b" is not valid/],
    ])('refuses MODEL_PATH=%s clearly', (value, message) => {
      expect(() => loadConfig({ MODEL_PATH: value })).toThrow(ConfigError);
      expect(() => loadConfig({ MODEL_PATH: value })).toThrow(message);
    });

    it('serves UPSTREAM_MODELS after the folders, and only them without MODEL_PATH', () => {
      const upstream = { UPSTREAM_OPENAI_URL: 'http://vllm:8000/v1', UPSTREAM_MODELS: 'llama=meta-llama/Llama-3.2-1B-Instruct, qwen2.5-0.5b' };
      const config = loadConfig(upstream);
      expect(config.model.folders).toEqual([]);
      expect(config.model.upstream).toEqual({
        url: 'http://vllm:8000/v1',
        apiKey: undefined,
        models: [
          { name: 'llama', upstreamModel: 'meta-llama/Llama-3.2-1B-Instruct' },
          { name: 'qwen2.5-0.5b', upstreamModel: 'qwen2.5-0.5b' },
        ],
        timeoutMs: 60_000,
        retries: 2,
      });
      expect(loadConfig({ ...upstream, MODEL_PATH: 'local=/m/a' }).model.folders).toEqual([{ name: 'local', path: '/m/a' }]);
      expect(loadConfig({ ...upstream, UPSTREAM_TIMEOUT_SECONDS: '0.5' }).model.upstream?.timeoutMs).toBe(500);
    });

    it.each([
      [{ UPSTREAM_MODELS: 'a' }, /UPSTREAM_OPENAI_URL is required with UPSTREAM_MODELS/],
      [{ UPSTREAM_OPENAI_URL: 'http://vllm:8000/v1' }, /UPSTREAM_MODELS is required with UPSTREAM_OPENAI_URL/],
      [{ UPSTREAM_OPENAI_URL: 'ftp://vllm/v1', UPSTREAM_MODELS: 'a' }, /UPSTREAM_OPENAI_URL=.*http/],
      [{ UPSTREAM_OPENAI_URL: 'http://vllm:8000/v1', UPSTREAM_MODELS: 'meta-llama/Llama-3.2-1B' }, /model name "meta-llama\/Llama-3.2-1B" is not valid .*; give it one as name=model/],
      [{ UPSTREAM_OPENAI_URL: 'http://vllm:8000/v1', UPSTREAM_MODELS: 'a', MODEL_PATH: 'a=/m/a' }, /"a" is in both MODEL_PATH and UPSTREAM_MODELS/],
    ])('refuses upstream settings %o clearly', (env, message) => {
      expect(() => loadConfig(env)).toThrow(message);
    });

    it('checks the SQS queue each model gets: a valid name, and one per model', () => {
      const queue = 'https://sqs.us-east-1.amazonaws.com/000000000000/gptql-jobs';
      expect(() => loadConfig({ SQS_QUEUE_URL: queue, MODEL_PATH: 'llama-3.2=/m/a,gpt2=/m/b' })).not.toThrow();
      expect(() => loadConfig({ SQS_QUEUE_URL: queue, MODEL_PATH: 'a.b=/m/a,a_b=/m/b' })).toThrow(/models "a\.b" and "a_b" would share the SQS queue "gptql-jobs-a_b"/);
      const long = 'https://sqs.us-east-1.amazonaws.com/000000000000/gptql-production-generation-jobs';
      expect(() => loadConfig({ SQS_QUEUE_URL: long, MODEL_PATH: `${'m'.repeat(64)}=/m/a` })).toThrow(/its SQS queue name "gptql-production-generation-jobs-m+" .* is not a valid SQS queue name/);
    });
  });

  it('has its table in the README, up to date', () => {
    const readme = fs.readFileSync('README.md', 'utf8');
    expect(readme, 'run `npm run docs:config`').toBe(withGeneratedTables(readme));
  });
});

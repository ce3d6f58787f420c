/**
 * terraform/: formatted as `terraform fmt` wants; modules wired consistently (what
 * `terraform validate` would check, as far as it can be done without downloading providers);
 * and in agreement with the code and k8s/: DynamoDB keys and indexes, node labels and taints,
 * service accounts, queue settings, table names.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { format } from '@cdktf/hcl-tools';
import { parse } from '@cdktf/hcl2json';
import { parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, loadConfig } from '../../src/config.ts';
import { modelQueueUrl } from '../../src/queue/names.ts';
import { TTL_ATTRIBUTE, tableDefinitions, type TableNames } from '../../src/store/tables.ts';
import { K8S_DIR, OVERLAYS, ROOT } from './manifests.ts';

const run = promisify(execFile);
const TF_DIR = path.join(ROOT, 'terraform');

/* hcl2json's JSON: blocks are arrays of objects, expressions are "${...}" strings. */
type Hcl = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
interface Folder { files: string[]; hcl: Hcl[] }

function tfFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === '.terraform' ? [] : tfFiles(full);
    return entry.name.endsWith('.tf') ? [full] : [];
  });
}

const folders = new Map<string, Folder>();
/** Blocks of one kind across the folder's files, e.g. all `variable` blocks as name → body. */
function blocks(folder: string, kind: string): Record<string, Hcl> {
  const out: Record<string, Hcl> = {};
  for (const hcl of folders.get(folder)!.hcl) {
    for (const [name, bodies] of Object.entries((hcl[kind] ?? {}) as Record<string, Hcl[]>)) out[name] = bodies[0]!;
  }
  return out;
}
function resources(folder: string, type: string): Record<string, Hcl> {
  const out: Record<string, Hcl> = {};
  for (const hcl of folders.get(folder)!.hcl) {
    for (const [name, bodies] of Object.entries((hcl.resource?.[type] ?? {}) as Record<string, Hcl[]>)) out[name] = bodies[0]!;
  }
  return out;
}
const moduleDir = (name: string) => path.join(TF_DIR, 'modules', name);
const envDir = (name: string) => path.join(TF_DIR, 'environments', name);

function k8sBase(file: string): Hcl[] {
  return parseAllDocuments(fs.readFileSync(path.join(K8S_DIR, 'base', file), 'utf8')).map((d) => d.toJS() as Hcl);
}

beforeAll(async () => {
  const files = tfFiles(TF_DIR);
  for (const file of files) {
    const dir = path.dirname(file);
    const folder = folders.get(dir) ?? { files: [], hcl: [] };
    folder.files.push(file);
    folder.hcl.push((await parse(file, fs.readFileSync(file, 'utf8'))) as Hcl);
    folders.set(dir, folder);
  }
});

describe('terraform: format', () => {
  // CI machines have no terraform binary (it is in neither Debian nor npm); hclwrite's Format,
  // the formatter `terraform fmt` is built on, runs everywhere through @cdktf/hcl-tools.
  it('every .tf file is as hclwrite formats it', async () => {
    const unformatted: string[] = [];
    for (const file of tfFiles(TF_DIR)) {
      const text = fs.readFileSync(file, 'utf8');
      if ((await format(text)) !== text) unformatted.push(path.relative(ROOT, file));
    }
    expect(unformatted).toEqual([]);
  });

  const terraform = ['/usr/local/bin/terraform', '/usr/bin/terraform', process.env.TERRAFORM].find((p) => p && fs.existsSync(p));
  it.skipIf(!terraform)('terraform fmt -check -recursive passes (where terraform is installed)', async () => {
    await expect(run(terraform!, ['fmt', '-check', '-recursive'], { cwd: TF_DIR })).resolves.toBeDefined();
  });
});

describe('terraform: modules are wired consistently', () => {
  it('every module call has a source that exists, passes only declared variables and all required ones, and uses only declared outputs', () => {
    const problems: string[] = [];
    for (const [dir] of folders) {
      for (const [name, call] of Object.entries(blocks(dir, 'module'))) {
        const source = path.resolve(dir, call.source as string);
        const target = folders.get(source);
        if (!target) {
          problems.push(`${path.relative(TF_DIR, dir)}: module ${name}: no module at ${call.source}`);
          continue;
        }
        const variables = blocks(source, 'variable');
        const meta = new Set(['source', 'providers', 'depends_on', 'count', 'for_each', 'version']);
        for (const argument of Object.keys(call)) {
          if (!meta.has(argument) && !variables[argument]) problems.push(`${path.relative(TF_DIR, dir)}: module ${name} passes undeclared ${argument}`);
        }
        for (const [variable, body] of Object.entries(variables)) {
          if (!('default' in body) && !(variable in call)) problems.push(`${path.relative(TF_DIR, dir)}: module ${name} misses required ${variable}`);
        }
      }
      // References inside the folder: var.X declared, module.M.O an output of M, local.X defined.
      const text = folders.get(dir)!.files.map((f) => fs.readFileSync(f, 'utf8')).join('\n');
      const variables = blocks(dir, 'variable');
      for (const [, variable] of text.matchAll(/\bvar\.([a-z0-9_]+)/g)) {
        if (!variables[variable!]) problems.push(`${path.relative(TF_DIR, dir)}: var.${variable} is not declared`);
      }
      const calls = blocks(dir, 'module');
      for (const [, module, output] of text.matchAll(/\bmodule\.([a-z0-9_]+)\.([a-z0-9_]+)/g)) {
        const call = calls[module!];
        const outputs = call ? blocks(path.resolve(dir, call.source as string), 'output') : {};
        if (!outputs[output!]) problems.push(`${path.relative(TF_DIR, dir)}: module.${module}.${output} does not exist`);
      }
      const locals = Object.assign({}, ...folders.get(dir)!.hcl.flatMap((h) => (h.locals ?? []) as Hcl[])) as Hcl;
      for (const [, local] of text.matchAll(/\blocal\.([a-z0-9_]+)/g)) {
        if (!(local! in locals)) problems.push(`${path.relative(TF_DIR, dir)}: local.${local} is not defined`);
      }
    }
    expect(problems).toEqual([]);
    expect(folders.size).toBeGreaterThanOrEqual(14);
  });

  it('every module the issue lists exists', () => {
    for (const name of ['vpc', 'eks', 'cognito', 'dynamodb', 'redis', 'sqs', 's3', 'waf', 'cloudfront', 'secrets', 'iam-irsa']) {
      expect(folders.has(moduleDir(name)), name).toBe(true);
      expect(blocks(moduleDir('gptql'), 'module')).toSatisfy((calls: Hcl) => Object.values(calls).some((c) => c.source === `../${name}`));
    }
  });

  it('dev, staging and prod each keep their state under their own key, and only prod is production (on-demand GPUs)', () => {
    const keys = new Set<string>();
    for (const env of OVERLAYS) {
      const terraform = folders.get(envDir(env))!.hcl.flatMap((h) => (h.terraform ?? []) as Hcl[]);
      const backend = terraform.find((t) => t.backend)?.backend.s3[0] as Hcl;
      expect(backend, env).toMatchObject({ bucket: 'gptql-terraform-state', encrypt: true, dynamodb_table: 'gptql-terraform-locks' });
      expect(backend.key).toContain(`/${env}/`);
      keys.add(backend.key as string);
      const call = blocks(envDir(env), 'module').gptql!;
      expect(call).toMatchObject({ source: '../../modules/gptql', environment: env, production: env === 'prod' });
    }
    expect(keys.size).toBe(3);
    expect(blocks(moduleDir('gptql'), 'module').eks!.gpu_capacity_type).toBe('${var.production ? "ON_DEMAND" : "SPOT"}');
  });
});

/** Each table's name after the prefix, as the dynamodb module names it ("${var.name}-<suffix>"). */
const tableSuffixes = { users: 'users', conversations: 'conversations', messages: 'messages', files: 'files', labels: 'labels', shares: 'shares', usage: 'usage', usageRecords: 'usage-records' } satisfies TableNames;
/** Tables whose items expire (TTL_ATTRIBUTE): refresh sessions, usage records. */
const TABLES_WITH_TTL = new Set<keyof TableNames>(['users', 'usageRecords']);
/** usageRecords → usage_records: Terraform's resource names and the DYNAMODB_*_TABLE variables. */
const snakeCase = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

describe('terraform: agrees with the code and k8s/', () => {
  it('DynamoDB tables have exactly the keys, attributes, indexes and TTL of src/store/tables.ts', () => {
    const names = tableSuffixes;
    const expected = tableDefinitions(names);
    const tables = resources(moduleDir('dynamodb'), 'aws_dynamodb_table');
    expect(Object.keys(tables).sort()).toEqual(Object.keys(expected).map(snakeCase).sort());
    for (const [key, definition] of Object.entries(expected) as [keyof TableNames, (typeof expected)[keyof TableNames]][]) {
      const table = tables[snakeCase(key)]!;
      const keyOf = (schema: { AttributeName?: string; KeyType?: string }[] | undefined, type: string) => schema?.find((k) => k.KeyType === type)?.AttributeName;
      expect(table.name, key).toBe(`\${var.name}-${names[key]}`);
      expect(table.billing_mode).toBe(definition.BillingMode);
      expect(table.hash_key).toBe(keyOf(definition.KeySchema, 'HASH'));
      expect(table.range_key).toBe(keyOf(definition.KeySchema, 'RANGE'));
      expect(((table.attribute ?? []) as Hcl[]).map((a) => ({ name: a.name, type: a.type })).sort((a, b) => a.name.localeCompare(b.name))).toEqual(
        definition.AttributeDefinitions!.map((a) => ({ name: a.AttributeName, type: a.AttributeType })).sort((a, b) => a.name!.localeCompare(b.name!)),
      );
      const indexes = ((table.global_secondary_index ?? []) as Hcl[]).map((index) => ({
        name: index.name, hash: index.hash_key, range: index.range_key, projection: index.projection_type, included: index.non_key_attributes,
      }));
      expect(indexes, `${key} indexes`).toEqual(
        (definition.GlobalSecondaryIndexes ?? []).map((index) => ({
          name: index.IndexName, hash: keyOf(index.KeySchema, 'HASH'), range: keyOf(index.KeySchema, 'RANGE'), projection: index.Projection?.ProjectionType,
          included: index.Projection?.NonKeyAttributes,
        })),
      );
      expect(table.local_secondary_index, `${key} has no LSI in src/store`).toBeUndefined();
      expect(table.ttl, `${key} ttl`).toEqual(TABLES_WITH_TTL.has(key) ? [{ attribute_name: TTL_ATTRIBUTE, enabled: true }] : undefined);
      expect(table.server_side_encryption).toEqual([{ enabled: true }]);
    }
  });

  it('the overlays name the tables, the files bucket and the IRSA roles as Terraform does', () => {
    // gptql module: name = "gptql-${var.environment}"; dynamodb: "${var.name}-<table>"; s3: "${var.name}-files".
    expect(blocks(moduleDir('gptql'), 'module').dynamodb!.name).toBe('${local.name}');
    const prefix = folders.get(moduleDir('gptql'))!.hcl.flatMap((h) => (h.locals ?? []) as Hcl[])[0]!.name;
    expect(prefix).toBe('gptql-${var.environment}');
    for (const env of OVERLAYS) {
      const kustomization = parseAllDocuments(fs.readFileSync(path.join(K8S_DIR, 'overlays', env, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as Hcl;
      const literals = Object.fromEntries((kustomization.configMapGenerator[0].literals as string[]).map((l) => l.split(/=(.*)/s).slice(0, 2)));
      for (const [key, suffix] of Object.entries(tableSuffixes)) {
        expect(literals[`DYNAMODB_${snakeCase(key).toUpperCase()}_TABLE`], `${env} ${key}`).toBe(`gptql-${env}-${suffix}`);
      }
      expect(literals.S3_BUCKET_NAME).toBe(`gptql-${env}-files`);
      // IRSA roles are "${var.name}-api" and "${var.name}-worker" (iam-irsa).
      const accounts = parseAllDocuments(fs.readFileSync(path.join(K8S_DIR, 'overlays', env, 'patches.yaml'), 'utf8'))
        .map((d) => d.toJS() as Hcl)
        .filter((o) => o.kind === 'ServiceAccount');
      expect(Object.fromEntries(accounts.map((a) => [a.metadata.name, a.metadata.annotations['eks.amazonaws.com/role-arn'].split('/').at(-1)]))).toEqual({
        'gptql-api': `gptql-${env}-api`,
        'gptql-worker': `gptql-${env}-worker`,
      });
    }
  });

  it('Cognito: groups admin, premium, users and a secretless app client with USER_PASSWORD_AUTH and refresh', () => {
    const dir = moduleDir('cognito');
    expect(Object.keys(resources(dir, 'aws_cognito_user_group').this!.for_each as Hcl).sort()).toEqual(['admin', 'premium', 'users']);
    const client = resources(dir, 'aws_cognito_user_pool_client').app!;
    expect(client.generate_secret).toBe(false);
    expect([...client.explicit_auth_flows].sort()).toEqual(['ALLOW_REFRESH_TOKEN_AUTH', 'ALLOW_USER_PASSWORD_AUTH']);
  });

  it('Redis has TLS and an auth token; the pods connect with rediss://', () => {
    const group = resources(moduleDir('redis'), 'aws_elasticache_replication_group').this!;
    expect(group).toMatchObject({ transit_encryption_enabled: true, at_rest_encryption_enabled: true, auth_token: '${random_password.auth_token.result}' });
    expect(blocks(moduleDir('redis'), 'output').url!.value).toMatch(/^rediss:\/\/:\$\{random_password\.auth_token\.result\}@/);
  });

  it('SQS: the jobs queue dead-letters to its DLQ after QUEUE_MAX_DELIVERIES receives', () => {
    const queues = resources(moduleDir('sqs'), 'aws_sqs_queue');
    expect(queues.jobs!.redrive_policy).toContain('deadLetterTargetArn = aws_sqs_queue.dead_letter.arn');
    expect(queues.jobs!.redrive_policy).toContain('maxReceiveCount     = var.max_deliveries');
    const variables = blocks(moduleDir('sqs'), 'variable');
    expect(String(variables.max_deliveries!.default)).toBe(CONFIG_VARIABLES.QUEUE_MAX_DELIVERIES.default);
  });

  it('SQS: a jobs queue per model, named as the workers derive it from SQS_QUEUE_URL, dead-lettering alike', () => {
    const queues = resources(moduleDir('sqs'), 'aws_sqs_queue');
    expect(queues.jobs!.name).toBe('${var.name}-jobs');
    expect(queues.model_jobs).toMatchObject({ for_each: '${toset(var.models)}', name: '${var.name}-jobs-${replace(each.value, ".", "_")}' });
    expect(queues.model_jobs!.redrive_policy).toBe(queues.jobs!.redrive_policy);
    // The same derivation, spelled out: name "-" model, dots as underscores.
    expect(modelQueueUrl('https://sqs.us-east-1.amazonaws.com/000000000000/gptql-prod-jobs', 'llama-3.2-1b')).toBe(
      'https://sqs.us-east-1.amazonaws.com/000000000000/gptql-prod-jobs-llama-3_2-1b',
    );
    // By default, the one model a worker serves without MODEL_PATH.
    const defaults = [blocks(moduleDir('sqs'), 'variable').models!.default, blocks(moduleDir('gptql'), 'variable').models!.default];
    for (const models of defaults) expect(models).toEqual(loadConfig({}).model.folders.map((folder) => folder.name));
    // Both roles may use every jobs queue.
    expect(blocks(moduleDir('gptql'), 'module').irsa!.queue_arns).toBe('${module.sqs.queue_arns}');
  });

  it('S3: files and model buckets are encrypted, versioned and closed to the public', () => {
    const dir = moduleDir('s3');
    const buckets = folders.get(dir)!.hcl.flatMap((h) => (h.locals ?? []) as Hcl[])[0]!.buckets as Hcl;
    expect(Object.keys(buckets).sort()).toEqual(['files', 'models']);
    // Each setting is applied to every bucket (for_each over aws_s3_bucket.this).
    const block = resources(dir, 'aws_s3_bucket_public_access_block').this!;
    expect(block).toMatchObject({ for_each: '${aws_s3_bucket.this}', block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true });
    expect(resources(dir, 'aws_s3_bucket_versioning').this).toMatchObject({ for_each: '${aws_s3_bucket.this}', versioning_configuration: [{ status: 'Enabled' }] });
    const sse = resources(dir, 'aws_s3_bucket_server_side_encryption_configuration').this!;
    expect(sse.for_each).toBe('${aws_s3_bucket.this}');
    expect(sse.rule[0].apply_server_side_encryption_by_default[0].sse_algorithm).toBe('aws:kms');
  });

  it('EKS node groups carry the labels and taint that the k8s Deployments select and tolerate', () => {
    const groups = resources(moduleDir('eks'), 'aws_eks_node_group');
    const [api] = k8sBase('api.yaml');
    const [worker] = k8sBase('worker.yaml');
    expect(groups.cpu!.labels).toEqual(api!.spec.template.spec.nodeSelector);
    expect(groups.gpu!.labels).toEqual(worker!.spec.template.spec.nodeSelector);
    const toleration = worker!.spec.template.spec.tolerations[0] as Hcl;
    const taint = groups.gpu!.taint[0] as Hcl;
    expect(taint.key).toBe(toleration.key);
    expect(taint.effect).toBe({ NoSchedule: 'NO_SCHEDULE', NoExecute: 'NO_EXECUTE', PreferNoSchedule: 'PREFER_NO_SCHEDULE' }[toleration.effect as string]);
    expect(groups.gpu!.capacity_type).toBe('${var.gpu_capacity_type}');
    expect(groups.gpu!.ami_type).toMatch(/NVIDIA/);
  });

  it('IRSA: one role per k8s service account, trusted by that account only, with no wildcard action or resource', () => {
    const dir = moduleDir('iam-irsa');
    const roles = folders.get(dir)!.hcl.flatMap((h) => (h.locals ?? []) as Hcl[]).find((l) => l.roles)!.roles as Hcl;
    const accounts = k8sBase('serviceaccounts.yaml').map((a) => a.metadata.name as string);
    expect(Object.values(roles).map((r) => r.service_account).sort()).toEqual(accounts.sort());
    const namespace = (parseAllDocuments(fs.readFileSync(path.join(K8S_DIR, 'base', 'kustomization.yaml'), 'utf8'))[0]!.toJS() as Hcl).namespace;
    expect(blocks(dir, 'variable').namespace!.default).toBe(namespace);
    const text = fs.readFileSync(path.join(dir, 'main.tf'), 'utf8');
    expect(text).toContain('values   = ["system:serviceaccount:${var.namespace}:${each.value.service_account}"]');
    for (const [role, { statements }] of Object.entries(roles)) {
      for (const statement of statements as Hcl[]) {
        const actions = typeof statement.actions === 'string' ? folders.get(dir)!.hcl.flatMap((h) => (h.locals ?? []) as Hcl[])[0]!.dynamodb_actions : statement.actions;
        for (const action of actions as string[]) expect(action, `${role} ${statement.sid}`).not.toContain('*');
        const resourcesOf = typeof statement.resources === 'string' ? [statement.resources] : (statement.resources as string[]);
        for (const resource of resourcesOf) expect(resource, `${role} ${statement.sid}`).not.toMatch(/^\*$|:\*$/);
      }
    }
    // Workers never get user administration; the API never receives jobs.
    const actionsOf = (role: string) => (roles[role].statements as Hcl[]).flatMap((s) => (Array.isArray(s.actions) ? s.actions : []) as string[]);
    expect(actionsOf('worker').some((a) => a.startsWith('cognito-idp:'))).toBe(false);
    expect(actionsOf('api')).not.toContain('sqs:ReceiveMessage');
  });

  it('the VPC range is the one the NetworkPolicies allow, and the WAF is regional (for the ALB)', () => {
    const cidr = blocks(moduleDir('gptql'), 'variable').vpc_cidr!.default;
    const policies = k8sBase('networkpolicies.yaml');
    const blocksInPolicies = JSON.stringify(policies).match(/"cidr":"([^"]+)"/g)!.map((m) => m.slice(8, -1)).filter((c) => c !== '0.0.0.0/0');
    expect(new Set(blocksInPolicies)).toEqual(new Set([cidr]));
    expect(resources(moduleDir('waf'), 'aws_wafv2_web_acl').this!.scope).toBe('REGIONAL');
    const [ingress] = k8sBase('ingress.yaml');
    expect(Object.keys(ingress!.metadata.annotations)).toContain('alb.ingress.kubernetes.io/wafv2-acl-arn');
  });
});

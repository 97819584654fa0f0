/** What `stoa new` can make: a queue worker, an HTTP gateway, or a step run once (a Job). */
export type ServiceKind = 'worker' | 'gateway' | 'step'

/** The kinds, in the order the help lists them. */
export const SERVICE_KINDS: readonly ServiceKind[] = ['worker', 'gateway', 'step']

/** One generated file: its path in the new folder and its text. */
export interface ScaffoldFile {
  readonly path: string
  readonly text: string
}

/** The port a generated service serves its probes on, and the gateway its routes. */
const HEALTH_PORT = 9090
const WEB_PORT = 8080
/** The drain and grace of `stoa serve` in the Dockerfile, which the Kubernetes lines match. */
const DRAIN_DELAY_MS = 5000
const GRACE_MS = 20_000

/**
 * The files of a new service project: package.json, the plugin with one typed action, the
 * service module declaring its settings, a test on the memory transport (node:test, so
 * `npm test` needs nothing but Node and stoa), a Dockerfile, and its Kubernetes lines.
 * Plain JavaScript with `// @ts-check`: the project runs on Node as it is, with no build step.
 *
 * @example
 * for (const f of scaffold('greeter', 'worker', '0.1.0')) writeFileSync(f.path, f.text)
 */
export function scaffold(name: string, kind: ServiceKind, stoaVersion: string): ScaffoldFile[] {
  const role = name
  return [
    { path: 'package.json', text: `${JSON.stringify(packageJson(name, kind, stoaVersion), null, 2)}\n` },
    { path: 'plugin.js', text: plugin(name, role) },
    { path: 'service.js', text: service(name, kind, role) },
    { path: 'service.test.js', text: test(name, role) },
    { path: 'Dockerfile', text: dockerfile(serveCommand(kind, role), kind) },
    { path: '.dockerignore', text: 'node_modules\nnpm-debug.log\n.git\n' },
    { path: 'k8s.yaml', text: kubernetes(name, kind, role) },
  ]
}

function packageJson(name: string, kind: ServiceKind, stoaVersion: string) {
  return {
    name,
    version: '0.1.0',
    private: true,
    type: 'module',
    engines: { node: '>=20.19.0' },
    scripts: {
      test: 'node --test',
      start: `stoa ${serveArgs(kind, name, LOCAL_BROKER).join(' ')}`,
    },
    dependencies: { stoa: `^${stoaVersion}`, zod: '^4.0.0', ...(kind === 'step' ? {} : { amqplib: '^2.3.1' }) },
  }
}

/**
 * The broker a worker takes its work from: on this machine for `npm start`, and in the
 * container the host `rabbitmq` (a compose service, a Kubernetes Service; k8s.yaml passes its
 * own URL from a Secret). A worker without one would have no work to take.
 */
const LOCAL_BROKER = 'amqp://127.0.0.1:5672'
const CONTAINER_BROKER = 'amqp://rabbitmq:5672'

function serveArgs(kind: ServiceKind, role: string, broker: string): string[] {
  if (kind === 'step') return ['act', 'service.js', `role:${role},cmd:greet`, 'who=world']
  const web = kind === 'gateway' ? ['--web', `0.0.0.0:${WEB_PORT}`] : ['--amqp', broker]
  return ['serve', 'service.js', ...web, '--health', `0.0.0.0:${HEALTH_PORT}`]
}

function serveCommand(kind: ServiceKind, role: string): string[] {
  if (kind === 'step') return serveArgs(kind, role, CONTAINER_BROKER)
  return [
    ...serveArgs(kind, role, CONTAINER_BROKER),
    '--drain-delay-ms',
    String(DRAIN_DELAY_MS),
    '--grace-ms',
    String(GRACE_MS),
  ]
}

function plugin(name: string, role: string): string {
  return `// @ts-check
import { action, definePlugin } from 'stoa'
import { z } from 'zod'

/** The ${name} plugin: one typed action, \`role:${role},cmd:greet\` { who } -> { greeting }. */
export const ${camel(name)} = definePlugin({
  name: '${name}',
  options: z.object({ greeting: z.string().min(1).default('hello') }),
  setup: (options) => ({
    actions: {
      'role:${role},cmd:greet': action({
        description: 'greets someone',
        schema: z.object({ who: z.string().min(1).max(100) }),
        result: z.object({ greeting: z.string() }),
        handler: (msg) => ({ greeting: \`\${options.greeting}, \${msg.who}\` }),
      }),
    },
  }),
})
`
}

function service(name: string, kind: ServiceKind, role: string): string {
  const web =
    kind === 'gateway' ? `,\n    [web, { prefix: '/api', routes: { 'POST /greet': 'role:${role},cmd:greet' } }]` : ''
  const webImport = kind === 'gateway' ? "import web from 'stoa/web'\n" : ''
  return `// @ts-check
import { defineService } from 'stoa'
${webImport}import { z } from 'zod'
import { ${camel(name)} } from './plugin.js'

/**
 * The ${name} service (${kind}). Its settings come from the environment, or from
 * <NAME>_FILE for secrets: \`stoa config service.js\` shows what it would start with.
 */
export default defineService({
  name: '${name}',
  config: {
    GREETING: z.string().max(40, 'at most 40 characters').default('hello'),
  },
  plugins: (config) => [
    [${camel(name)}, { greeting: config.GREETING }]${web},
  ],
})
`
}

function test(name: string, role: string): string {
  return `// @ts-check
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createStoa } from 'stoa'
import { createMemoryBus, createMemoryTransport } from 'stoa/memory'
import service from './service.js'

test('${name} greets over the memory transport, with its settings from the environment', async () => {
  const bus = createMemoryBus()
  const ${camel(name)} = service.create({ env: { GREETING: 'hi' } }).listen(createMemoryTransport({ bus }))
  const caller = createStoa({ name: 'caller' }).client(createMemoryTransport({ bus }), ['role:${role}'])
  await ${camel(name)}.ready()
  await caller.ready()
  try {
    assert.deepEqual(await caller.act('role:${role},cmd:greet', { who: 'ada' }), { greeting: 'hi, ada' })
    await assert.rejects(caller.act('role:${role},cmd:greet', {}), { code: 'INVALID_MESSAGE' })
  } finally {
    await caller.close()
    await ${camel(name)}.close()
  }
})

test('${name} refuses a bad setting before it starts', () => {
  assert.throws(() => service.create({ env: { GREETING: 'x'.repeat(41) } }), { code: 'INVALID_CONFIG' })
})
`
}

function dockerfile(command: string[], kind: ServiceKind): string {
  const health =
    kind === 'step'
      ? ''
      : `# Docker's own probe; Kubernetes uses the probes in k8s.yaml instead.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \\
  CMD ["node", "-e", "fetch('http://127.0.0.1:${HEALTH_PORT}/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
`
  const ports =
    kind === 'gateway' ? `EXPOSE ${WEB_PORT} ${HEALTH_PORT}\n` : kind === 'worker' ? `EXPOSE ${HEALTH_PORT}\n` : ''
  return `# syntax=docker/dockerfile:1
# Stage 1: the production dependencies alone (no dev tools reach the image).
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package*.json ./
RUN npm install --omit=dev --no-audit --no-fund

# Stage 2: the service, run as the unprivileged user "node".
FROM node:20-bookworm-slim
# tini as PID 1: it forwards SIGTERM to node and reaps orphaned children, which a PID 1 must do
# and node does not. From Debian's own packages.
RUN apt-get update \\
  && apt-get install -y --no-install-recommends tini \\
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --chown=node:node . .
USER node
${ports}${health}# The exec form, no shell in between: SIGTERM goes tini -> stoa, which drops readiness, keeps
# serving for the drain delay, then gives the work in flight the grace period.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "node_modules/stoa/dist/bin/stoa.js"]
CMD ${JSON.stringify(command)}
`
}

function kubernetes(name: string, kind: ServiceKind, role: string): string {
  if (kind === 'step') {
    return `# Add to your manifests: ${name} runs once per schedule, as a CronJob.
apiVersion: batch/v1
kind: CronJob
metadata:
  name: ${name}
spec:
  schedule: "0 * * * *"
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      backoffLimit: 2
      template:
        spec:
          restartPolicy: Never
          securityContext: { runAsNonRoot: true, runAsUser: 1000 }
          containers:
            - name: ${name}
              image: ${name}:0.1.0
              args: ["act", "service.js", "role:${role},cmd:greet", "who=cron"]
              envFrom: [{ configMapRef: { name: ${name} } }]
              resources:
                requests: { cpu: 50m, memory: 64Mi }
                limits: { memory: 256Mi }
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}
data:
  GREETING: hello
`
  }
  const web = kind === 'gateway'
  // SIGTERM comes once the pod is removed from the endpoints; stoa keeps serving for the drain
  // delay, then has the grace period to finish: the pod's grace must cover both, with margin.
  const graceSeconds = Math.ceil((DRAIN_DELAY_MS + GRACE_MS) / 1000) + 5
  return `# Add to your manifests: the ${name} ${kind}. terminationGracePeriodSeconds covers
# --drain-delay-ms ${DRAIN_DELAY_MS} + --grace-ms ${GRACE_MS} (see the Dockerfile) with 5 s to spare.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels: { app: ${name} }
spec:
  replicas: 2
  selector:
    matchLabels: { app: ${name} }
  strategy:
    type: RollingUpdate
    rollingUpdate: { maxUnavailable: 0, maxSurge: 1 }
  template:
    metadata:
      labels: { app: ${name} }
    spec:
      terminationGracePeriodSeconds: ${graceSeconds}
      securityContext: { runAsNonRoot: true, runAsUser: 1000 }
      containers:
        - name: ${name}
          image: ${name}:0.1.0
          args: ["serve", "service.js", "--amqp", "$(AMQP_URL)", ${web ? `"--web", "0.0.0.0:${WEB_PORT}", ` : ''}"--health", "0.0.0.0:${HEALTH_PORT}", "--drain-delay-ms", "${DRAIN_DELAY_MS}", "--grace-ms", "${GRACE_MS}"]
          envFrom: [{ configMapRef: { name: ${name} } }]
          env:
            - name: AMQP_URL
              valueFrom: { secretKeyRef: { name: ${name}, key: AMQP_URL } }
          ports:
${web ? `            - { name: web, containerPort: ${WEB_PORT} }\n` : ''}            - { name: health, containerPort: ${HEALTH_PORT} }
          readinessProbe:
            httpGet: { path: /readyz, port: health }
            periodSeconds: 5
            failureThreshold: 1
          livenessProbe:
            httpGet: { path: /healthz, port: health }
            periodSeconds: 10
            failureThreshold: 3
          resources:
            requests: { cpu: 100m, memory: 128Mi }
            limits: { memory: 512Mi }
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: ${name}
spec:
  minAvailable: 1
  selector:
    matchLabels: { app: ${name} }
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: ${name}
spec:
  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: ${name} }
  minReplicas: 2
  maxReplicas: 10
  metrics:
    - type: Resource
      resource: { name: cpu, target: { type: Utilization, averageUtilization: 70 } }
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}
data:
  GREETING: hello
---
apiVersion: v1
kind: Secret
metadata:
  name: ${name}
type: Opaque
stringData:
  AMQP_URL: amqp://guest:guest@rabbitmq:5672
${
  web
    ? `---
apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  selector: { app: ${name} }
  ports:
    - { name: web, port: 80, targetPort: web }
`
    : ''
}`
}

/** `order-events` -> `orderEvents`. */
function camel(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())
}

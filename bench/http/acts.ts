import { Agent, request } from 'node:http'
import { createRequire } from 'node:module'
import { cpuSeconds, emitFigures } from '../lib.js'
import { startServer } from './start.js'
import { createHttpTransport, createStoa } from './stoa.js'

/**
 * `acts.ts <kind> <seconds>`: act throughput with a client in this process and the listener
 * in another, 100 acts in flight. `stoa-http`: stoa's client and listener; `node-http`: a bare
 * node:http client on a kept-alive agent and the bare server; `seneca-http`: Seneca's client and
 * listener (`type: 'http'`). Every act adds 1 and 2 and checks the answer. Prints acts per
 * second and the listener's CPU time per act (µs).
 */
const [kind, secondsText] = process.argv.slice(2) as [string, string]
const seconds = Number(secondsText ?? 3)
const require = createRequire(import.meta.url)
const IN_FLIGHT = 100
const quiet = { error() {}, warn() {}, info() {}, debug() {} }

async function client(url: string): Promise<{ act: () => Promise<unknown>; close: () => Promise<void> }> {
  if (kind === 'stoa-http') {
    const stoa = createStoa({ name: 'bench-client', logger: quiet })
    stoa.client(createHttpTransport({ url }), ['role:math'])
    await stoa.ready()
    return { act: () => stoa.act('role:math,cmd:sum', { left: 1, right: 2 }), close: () => stoa.close() }
  }
  if (kind === 'node-http') {
    const agent = new Agent({ keepAlive: true, maxSockets: 128 })
    const u = new URL(url)
    const body = '{"role":"math","cmd":"sum","left":1,"right":2}'
    const act = () =>
      new Promise<unknown>((resolve, reject) => {
        const req = request(
          {
            agent,
            hostname: u.hostname,
            port: u.port,
            path: '/act',
            method: 'POST',
            headers: { 'content-type': 'application/json', 'content-length': body.length },
          },
          (res) => {
            const chunks: Buffer[] = []
            res.on('data', (c: Buffer) => chunks.push(c))
            res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))))
          },
        )
        req.on('error', reject)
        req.end(body)
      })
    return { act, close: async () => agent.destroy() }
  }
  const Seneca = require('seneca')
  const seneca = Seneca({ log: 'silent', system: { close_signals: {} } }).client({
    type: 'http',
    port: Number(new URL(url).port),
    host: '127.0.0.1',
    pin: 'role:math',
  })
  await new Promise<void>((r) => seneca.ready(() => r()))
  const act = () =>
    new Promise<unknown>((resolve, reject) =>
      seneca.act({ role: 'math', cmd: 'sum', left: 1, right: 2 }, (err: unknown, out: unknown) =>
        err ? reject(err) : resolve(out),
      ),
    )
  return { act, close: () => new Promise<void>((r) => seneca.close(() => r())) }
}

/** Keeps IN_FLIGHT acts going for `secs` (a new one starts as each ends) and counts them. */
function run(act: () => Promise<unknown>, secs: number): Promise<{ ops: number; done: number; errors: number }> {
  return new Promise((resolve) => {
    let done = 0
    let errors = 0
    let running = 0
    const t0 = performance.now()
    const until = t0 + secs * 1000
    const next = () => {
      if (performance.now() >= until) {
        if (--running === 0) resolve({ ops: (done * 1000) / (performance.now() - t0), done, errors })
        return
      }
      act().then(
        (out) => {
          if ((out as { answer?: number }).answer === 3) done++
          else errors++
          next()
        },
        () => {
          errors++
          next()
        },
      )
    }
    for (; running < IN_FLIGHT; running++) next()
  })
}

const { url, child } = await startServer(kind)
try {
  const c = await client(url)
  await run(c.act, 1)
  const cpu0 = cpuSeconds(child.pid!)
  const { ops, done, errors } = await run(c.act, seconds)
  // The listener's CPU per act, as for the routes: the client shares the cores.
  const cpuUs = ((cpuSeconds(child.pid!) - cpu0) * 1e6) / done
  await c.close()
  emitFigures({ ops, cpuUs, errors })
} finally {
  child.kill('SIGKILL')
}

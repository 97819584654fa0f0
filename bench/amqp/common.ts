import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { cpuSeconds } from '../lib.js'

/** Broker of the benchmark: `STOA_AMQP_URL` or RabbitMQ on 127.0.0.1. */
export const AMQP_URL = process.env.STOA_AMQP_URL ?? 'amqp://127.0.0.1:5672'

/** Tasks per task-throughput run. */
export const TASKS = Number(process.env.BENCH_AMQP_TASKS ?? 20_000)
/** Requests in flight in the RPC throughput run. */
export const IN_FLIGHT = 100
/** Length of each timed phase, ms. */
const PHASE_MS = Number(process.env.BENCH_AMQP_MS ?? 2000)

/** A name no other run uses, for queues and namespaces. */
export function runId(): string {
  return `bench-${randomBytes(4).toString('hex')}`
}

/** The server half of a contestant, in its own process, and the lines it prints. */
export interface Server {
  readonly child: ChildProcess
  /** Resolves when the server printed `line`. */
  waitFor(line: string, timeoutMs?: number): Promise<void>
  stop(): Promise<void>
}

/**
 * Starts `file` (a contestant script) with `server ...args` in a fresh process, and resolves
 * once it printed `ready`. Client and server never share a process, as in production.
 */
export async function startServer(file: string, args: string[]): Promise<Server> {
  const prof =
    process.env.BENCH_AMQP_PROF === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_AMQP_PROF}`]
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', fileURLToPath(file), 'server', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const seen = new Set<string>()
  const waiters: { line: string; resolve: () => void }[] = []
  let rest = ''
  child.stdout!.on('data', (d: Buffer) => {
    const lines = (rest + d.toString()).split('\n')
    rest = lines.pop()!
    for (const line of lines) {
      seen.add(line)
      for (const w of waiters.filter((x) => x.line === line)) w.resolve()
    }
  })
  const server: Server = {
    child,
    waitFor(line, timeoutMs = 60_000) {
      if (seen.has(line)) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`server did not print "${line}"`)), timeoutMs)
        child.once('exit', () => reject(new Error(`server exited before printing "${line}"`)))
        waiters.push({
          line,
          resolve: () => {
            clearTimeout(timer)
            resolve()
          },
        })
      })
    },
    async stop() {
      if (child.exitCode !== null) return
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    },
  }
  await server.waitFor('ready')
  return server
}

/** In a server process: on SIGTERM, runs `close`, then exits. */
export function onTerm(close: () => Promise<unknown>): void {
  process.on('SIGTERM', () => {
    void close()
      .catch(() => undefined)
      .then(() => process.exit(0))
  })
}

/**
 * RPC figures for one contestant: sequential latency (p50, p99 over `PHASE_MS`) and throughput
 * with `IN_FLIGHT` calls in flight. Warm-up first, so the JIT and the broker's queues settle.
 * With the responder's `serverPid`, its CPU per call in the throughput phase too (`rpcServerCpuUs`).
 */
export async function rpcFigures(
  call: () => Promise<unknown>,
  serverPid?: number,
): Promise<{ rpcOps: number; rpcP50Ms: number; rpcP99Ms: number; rpcCpuUs: number; rpcServerCpuUs?: number }> {
  const warmUntil = performance.now() + 500
  while (performance.now() < warmUntil) await call()
  const lat: number[] = []
  const seqUntil = performance.now() + PHASE_MS
  while (performance.now() < seqUntil) {
    const t0 = performance.now()
    await call()
    lat.push(performance.now() - t0)
  }
  lat.sort((a, b) => a - b)
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))]!
  let n = 0
  const server0 = serverPid === undefined ? NaN : cpuSeconds(serverPid)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const until = t0 + PHASE_MS
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (performance.now() < until) {
        await call()
        n++
      }
    }),
  )
  const elapsed = performance.now() - t0
  const figures = { rpcOps: (n * 1000) / elapsed, rpcP50Ms: q(0.5), rpcP99Ms: q(0.99), rpcCpuUs: cpuPerOp(cpu0, n) }
  if (serverPid === undefined) return figures
  return { ...figures, rpcServerCpuUs: ((cpuSeconds(serverPid) - server0) * 1e6) / Math.max(1, n) }
}

/**
 * Task throughput: publishes `TASKS` tasks, at most `IN_FLIGHT` unconfirmed at once, and
 * stops the clock when the server says it handled (and acknowledged) them all.
 */
export async function taskFigures(
  send: (i: number) => Promise<unknown>,
  allDone: () => Promise<void>,
): Promise<{ taskOps: number; taskCpuUs: number }> {
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let next = 0
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < TASKS) await send(next++)
    }),
  )
  const cpu = cpuPerOp(cpu0, TASKS)
  await allDone()
  return { taskOps: (TASKS * 1000) / (performance.now() - t0), taskCpuUs: cpu }
}

/**
 * The client's CPU time per operation, µs (user + system, all threads). On a loaded machine
 * throughput swings with what else runs; the CPU an operation costs does much less.
 */
function cpuPerOp(from: NodeJS.CpuUsage, ops: number): number {
  const d = process.cpuUsage(from)
  return (d.user + d.system) / Math.max(1, ops)
}

export { emitFigures as emitFiguresLine } from '../lib.js'

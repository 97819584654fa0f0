import type { ChildProcess } from 'node:child_process'
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** One contestant: a script run in its own process, printing one JSON line of figures last. */
export interface Contestant {
  readonly name: string
  /** Path of the worker script, relative to bench/. */
  readonly file: string
  readonly args?: readonly string[]
  readonly env?: Readonly<Record<string, string>>
}

/** What a worker prints as its last stdout line: numbers by metric name (`ops` at least). */
export type Figures = Record<string, number>

const benchDir = fileURLToPath(new URL('.', import.meta.url))

/**
 * Runs a worker script in a fresh process (`node --import tsx`) and returns the figures from
 * its last stdout line. A fresh process per run keeps JIT state and garbage from one
 * contestant out of another's figures.
 */
export function runWorker(c: Contestant, timeoutMs = 120_000): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', benchDir + c.file, ...(c.args ?? [])], {
      env: { ...process.env, ...c.env },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('exit', (code) => {
      clearTimeout(timer)
      const last = out.trim().split('\n').pop() ?? ''
      try {
        if (code !== 0) throw new Error(`exit code ${code}`)
        resolve(JSON.parse(last) as Figures)
      } catch (err) {
        reject(new Error(`${c.name} (${c.file}) failed: ${(err as Error).message}\n${out.slice(-2000)}`))
      }
    })
  })
}

/**
 * Alternates the contestants over `rounds` rounds (A B C, A B C, ...), so that drift on a
 * shared machine touches all of them alike, and returns every round's figures.
 */
export async function alternate(
  contestants: readonly Contestant[],
  rounds = 5,
  timeoutMs = 120_000,
): Promise<Record<string, Figures[]>> {
  const all: Record<string, Figures[]> = {}
  for (let r = 0; r < rounds; r++) {
    for (const c of contestants) {
      const f = await runWorker(c, timeoutMs)
      ;(all[c.name] ??= []).push(f)
      process.stderr.write(`round ${r + 1}/${rounds} ${c.name}: ${JSON.stringify(f)}\n`)
    }
  }
  return all
}

/** The median of a list of numbers. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** Spread of a list as (max - min) / median, a fraction: 0.1 means the runs differ by 10%. */
export function spread(xs: readonly number[]): number {
  const med = median(xs)
  return med === 0 ? 0 : (Math.max(...xs) - Math.min(...xs)) / med
}

/** The median of one metric over a contestant's runs. */
export function med(all: Record<string, Figures[]>, name: string, metric: string): number {
  return median((all[name] ?? []).map((f) => f[metric]!).filter((v) => typeof v === 'number'))
}

/** The spread of one metric over a contestant's runs. */
export function spr(all: Record<string, Figures[]>, name: string, metric: string): number {
  return spread((all[name] ?? []).map((f) => f[metric]!).filter((v) => typeof v === 'number'))
}

/** Rounds to 3 significant digits for printing. */
export function sig(x: number): number {
  return Number.isFinite(x) ? Number(x.toPrecision(3)) : x
}

/**
 * Prints a suite's table to stderr-free stdout lines and ends with the one JSON line every
 * suite ends with: `{"suite":...,"ratios":{...},"ops":{...}}` (plus any extra figures).
 */
export function report(
  suite: string,
  table: string[][],
  json: { ratios: Record<string, number>; ops: Record<string, number>; [k: string]: unknown },
): void {
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => String(row[i] ?? '').length)))
  for (const row of table) console.log(row.map((cell, i) => String(cell).padEnd(widths[i]!)).join('  '))
  const ratios = Object.fromEntries(Object.entries(json.ratios).map(([k, v]) => [k, sig(v)]))
  const ops = Object.fromEntries(Object.entries(json.ops).map(([k, v]) => [k, sig(v)]))
  console.log(JSON.stringify({ suite, ...json, ratios, ops }))
}

/**
 * Measures `fn` (which runs `batch` operations and resolves) for `ms` after a warm-up and
 * returns operations per second.
 */
export async function measure(fn: () => Promise<void> | void, batch: number, ms = 1000, warmMs = 300): Promise<number> {
  const until = performance.now() + warmMs
  while (performance.now() < until) await fn()
  let n = 0
  const t0 = performance.now()
  let t = t0
  while (t - t0 < ms) {
    await fn()
    n += batch
    t = performance.now()
  }
  return (n * 1000) / (t - t0)
}

/** Prints a worker's figures as its last stdout line. */
export function emitFigures(f: Figures): void {
  process.stdout.write(`${JSON.stringify(f)}\n`)
}

let ticksPerSecond: number | undefined

/**
 * CPU time (user + system, all threads) a process has used so far, in seconds, read from
 * /proc (Linux); NaN where there is none. A server's CPU per request tells apart a contestant
 * that is cheap from one that only got more of the two shared cores than the load generator.
 */
export function cpuSeconds(pid: number): number {
  try {
    ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name, which is in parentheses and may hold spaces: utime and
    // stime are the 14th and 15th of the line, the 12th and 13th after ")".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond
  } catch {
    return NaN
  }
}

/**
 * Calls `call` back to back (sequential ops/s) and then `concurrency` at a time (concurrent
 * ops/s): the two figures every in-process act contestant reports.
 */
export async function callLoops(
  call: () => Promise<unknown>,
  ms: number,
  concurrency = 1000,
): Promise<{ seq: number; conc: number }> {
  const seq = await measure(
    async () => {
      for (let i = 0; i < 100; i++) await call()
    },
    100,
    ms,
  )
  const batch: Promise<unknown>[] = new Array(concurrency)
  const conc = await measure(
    async () => {
      for (let i = 0; i < concurrency; i++) batch[i] = call()
      await Promise.all(batch)
    },
    concurrency,
    ms,
  )
  return { seq, conc }
}

/**
 * Starts `file <kind>` (a suite's server.ts) under tsx in its own process and resolves with the
 * URL it printed as `{"url"}` once it listens.
 */
export function startServer(file: string, kind: string): Promise<{ url: string; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file, kind], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const line = out.split('\n').find((l) => l.startsWith('{'))
      if (line !== undefined) resolve({ url: (JSON.parse(line) as { url: string }).url, child })
    })
    child.on('exit', (code) => reject(new Error(`server ${kind} exited with ${code}`)))
  })
}

const autocannonBin = fileURLToPath(new URL('../node_modules/autocannon/autocannon.js', import.meta.url))

/** Runs autocannon with `args` (its flags, then the target) in its own process; resolves with its JSON report. */
export function autocannon(args: readonly string[]): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [autocannonBin, '-j', ...args], { stdio: ['ignore', 'pipe', 'ignore'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    child.on('exit', (code) => {
      try {
        if (code !== 0) throw new Error(`autocannon exited with ${code}`)
        resolve(JSON.parse(out.trim().split('\n').pop()!) as Record<string, any>)
      } catch (err) {
        reject(err)
      }
    })
  })
}

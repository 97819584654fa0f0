import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { emitFigures, median } from '../lib.js'

/**
 * Runs one contestant's command `BENCH_CLI_RUNS` times, each in a fresh process, and reports
 * the median wall time from spawn to exit. Every run must print the answer and exit 0, so a
 * broken build cannot post a fast time.
 */
const root = fileURLToPath(new URL('../../', import.meta.url))
const here = 'bench/cli/'
const commands: Record<string, readonly string[]> = {
  node: ['-e', '0'],
  'stoa-once': [`${here}stoa-once.mjs`],
  'seneca-once': [`${here}seneca-once.cjs`],
  'stoa-act': ['dist/bin/stoa.js', 'act', `${here}service.mjs`, 'role:math,cmd:sum', 'left=1', 'right=2'],
  'stoa-act-ts': ['dist/bin/stoa.js', 'act', `${here}service.ts`, 'role:math,cmd:sum', 'left=1', 'right=2'],
}

const name = process.argv[2] ?? ''
const args = commands[name]
if (args === undefined) throw new Error(`unknown contestant "${name}"`)
const runs = Number(process.env.BENCH_CLI_RUNS ?? 5)
const times: number[] = []
for (let i = 0; i < runs; i++) {
  const t0 = performance.now()
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' })
  const ms = performance.now() - t0
  if (r.status !== 0 || (name !== 'node' && !r.stdout.includes('"answer":3'))) {
    throw new Error(`${name} failed (exit ${r.status}): ${r.stdout}${r.stderr}`)
  }
  times.push(ms)
}
const ms = median(times)
emitFigures({ ms, ops: 1000 / ms, min: Math.min(...times), max: Math.max(...times) })

/*
 * Runs the integration and the end-to-end suites side by side, each in its own mocha process:
 * both spend most of their time waiting on brokers, databases and the processes they start, so
 * together they take little longer than the longer one. Every test of both uses names of its own
 * (queues, streams, databases, ports) and restarts only servers it started itself, which is what
 * lets them share the machine. Each suite's output is printed whole when it ends, so its summary
 * lines ("N passing", "N failing") stay intact; the exit code is the first failure's.
 */
import { spawn } from 'node:child_process'

const SUITES = [
  { name: 'integration', glob: 'test/**/*.int.test.ts' },
  { name: 'end-to-end', glob: 'test/**/*.e2e.test.ts' },
] as const

const mocha = new URL('../node_modules/mocha/bin/mocha.js', import.meta.url).pathname

function run(suite: (typeof SUITES)[number]): Promise<number> {
  const started = Date.now()
  // --exit: a test that timed out may leave a connection open, and a suite must end all the same.
  const child = spawn(process.execPath, [mocha, suite.glob, '--exit', ...process.argv.slice(2)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const out: Buffer[] = []
  child.stdout.on('data', (b: Buffer) => out.push(b))
  child.stderr.on('data', (b: Buffer) => out.push(b))
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      const s = ((Date.now() - started) / 1000).toFixed(0)
      process.stdout.write(`\n# ${suite.name} tests (${suite.glob}), ${s} s\n`)
      process.stdout.write(Buffer.concat(out))
      resolve(code ?? (signal === null ? 1 : 128))
    })
  })
}

process.stdout.write(`# ${SUITES.map((s) => s.name).join(' and ')} tests side by side; each prints when it ends\n`)
const codes = await Promise.all(SUITES.map(run))
process.exitCode = codes.find((c) => c !== 0) ?? 0

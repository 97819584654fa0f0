// `cannon.ts <bare-web|observed-web> <seconds>`: starts one server of the suite in its own
// process, checks its answer, loads it with autocannon (a third process, 100 connections) and
// prints requests per second and latency.
import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { emitFigures } from '../lib.js'

const [kind, secondsText] = process.argv.slice(2) as [string, string]
const seconds = Number(secondsText ?? 3)
const here = fileURLToPath(new URL('.', import.meta.url))
const cannonBin = fileURLToPath(new URL('../../node_modules/autocannon/autocannon.js', import.meta.url))

function start(): Promise<{ url: string; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `${here}server.ts`, kind], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const line = out.split('\n').find((l) => l.startsWith('{'))
      if (line !== undefined) resolve({ url: (JSON.parse(line) as { url: string }).url, child })
    })
    child.on('exit', (code) => reject(new Error(`server ${kind} exited with ${code}`)))
  })
}

function cannon(target: string, duration: number): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cannonBin, '-j', '-c', '100', '-d', String(duration), target], { stdio: ['ignore', 'pipe', 'ignore'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
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

const { url, child } = await start()
try {
  const target = `${url}/sum?left=1&right=2`
  const check = await fetch(target)
  const text = await check.text()
  if (check.status !== 200 || text !== '{"answer":3}') throw new Error(`${kind} answered ${check.status} ${text}`)
  await cannon(target, 1)
  const r = await cannon(target, seconds)
  emitFigures({ ops: r.requests.average, p99: r.latency.p99, errors: r.errors + r.timeouts + r.non2xx })
} finally {
  child.kill('SIGKILL')
}
process.exit(0)

import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { emitFigures } from '../lib.js'
import { benchToken } from './token.js'

/**
 * `cannon.ts <open|jwt|jwt-nocache> <seconds>`: starts one server of the suite in its own
 * process, checks it answers `{"answer":3}` with the token (and 401 without, when protected),
 * then loads it with autocannon, a third process, 100 connections, every request carrying
 * `Authorization: Bearer <token>`; prints requests per second and latency.
 */
const [kind, secondsText] = process.argv.slice(2) as [string, string]
const seconds = Number(secondsText ?? 3)
const here = fileURLToPath(new URL('.', import.meta.url))
const cannonBin = fileURLToPath(new URL('../../node_modules/autocannon/autocannon.js', import.meta.url))
const token = benchToken()

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
  const args = [cannonBin, '-j', '-c', '100', '-d', String(duration), '-H', `authorization=Bearer ${token}`, target]
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] })
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
  const ok = await fetch(target, { headers: { authorization: `Bearer ${token}` } })
  const text = await ok.text()
  if (ok.status !== 200 || text !== '{"answer":3}') throw new Error(`${kind} answered ${ok.status} ${text}`)
  if (kind !== 'open' && (await fetch(target)).status !== 401) throw new Error(`${kind} answered a request without a token`)
  await cannon(target, 1)
  const r = await cannon(target, seconds)
  emitFigures({ ops: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts + r.non2xx })
} finally {
  child.kill('SIGKILL')
}

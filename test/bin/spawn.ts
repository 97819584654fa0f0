import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { spawn } from 'node:child_process'
import { root } from './run.js'

/** The built CLI, as `npm run build` leaves it. */
export const STOA = `${root}dist/bin/stoa.js`

/** How a spawned CLI ended. */
export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs the built `stoa` with `node`, as a user would, in the repository's root, and resolves
 * with its exit code and output. Killed after `timeoutMs`, so a hang fails the test.
 *
 * @example
 * const { code, stdout } = await stoa(['act', 'test/fixtures/cli-math/seneca.mjs', 'role:calc,cmd:sum', 'left=1', 'right=2'])
 */
export function stoa(
  argv: readonly string[],
  options: { stdin?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Exit> {
  const child = start(argv, options.env)
  child.stdin.end(options.stdin ?? '')
  return exited(child, options.timeoutMs ?? 15_000)
}

/** Starts the built `stoa` and returns the child, stdin open. */
export function start(argv: readonly string[], env: Record<string, string> = {}): ChildProcessWithoutNullStreams {
  // STOA_TOKEN from the outer environment must not leak into what a test asserts.
  const { STOA_TOKEN: _ignored, ...outer } = process.env
  return spawn(process.execPath, [STOA, ...argv], { cwd: root, env: { ...outer, ...env }, stdio: 'pipe' })
}

/** Resolves when the child exits, with everything it printed. */
export function exited(child: ChildProcessWithoutNullStreams, timeoutMs = 15_000): Promise<Exit> {
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(
        new Error(
          `stoa ${child.spawnargs.slice(2).join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`,
        ),
      )
    }, timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

/** A `stoa serve` child and the addresses it printed. */
export interface Serving {
  readonly child: ChildProcessWithoutNullStreams
  readonly urls: string[]
  /** Resolves when it exits. */
  readonly exit: Promise<Exit>
  /** What it has printed on stderr so far. */
  stderr(): string
  /** Sends SIGTERM and resolves when it has exited. */
  stop(): Promise<Exit>
}

/**
 * Spawns `stoa serve` (with `env` added to the environment) and resolves once it has printed
 * `expected` "listening on" lines; rejects if it exits first or takes longer than `timeoutMs`.
 */
export function serve(
  argv: readonly string[],
  expected: number,
  timeoutMs = 15_000,
  env: Record<string, string> = {},
): Promise<Serving> {
  const child = start(['serve', ...argv], env)
  const exit = exited(child, 60_000)
  let out = ''
  let err = ''
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const urls: string[] = []
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`stoa serve did not print ${expected} addresses within ${timeoutMs} ms: ${out}`))
    }, timeoutMs)
    const onData = (d: Buffer) => {
      out += d.toString()
      const lines = out.split('\n')
      out = lines.pop() ?? ''
      for (const line of lines) {
        const at = line.indexOf(' listening on ')
        if (at >= 0) urls.push(line.slice(at + ' listening on '.length))
      }
      if (urls.length >= expected) {
        clearTimeout(timer)
        child.stdout.off('data', onData)
        resolve({
          child,
          urls,
          exit,
          stderr: () => err,
          stop: () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
            return exit
          },
        })
      }
    }
    child.stdout.on('data', onData)
    void exit.then((e) => {
      clearTimeout(timer)
      reject(new Error(`stoa serve exited with ${e.code} before listening: ${e.stderr}`))
    })
  })
}

import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { findProgram, missingProgram, PROGRAMS } from './binaries.js'
import { freePort } from './ports.js'

/** A running Prometheus server of the test's own. */
export interface PrometheusServer {
  readonly url: string
  /** Runs an instant PromQL query; resolves with the result vector. */
  query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>
  /** Stops the server by its pid and deletes its config and data. */
  close(): Promise<void>
}

/**
 * Starts the `prometheus` binary (Debian's package; `.ci/run` installs it) on 127.0.0.1 and a
 * free port, with a config and a data directory of its own, scraping `target` (`host:port`)
 * every 500 ms at `metricsPath`. `binary` is the program's path (default: found on PATH, see
 * binaries.ts); one that cannot be run rejects with what to install. A suite that needs
 * Prometheus calls `requireProgram(this, PROGRAMS.prometheus)` first, to be skipped without it.
 */
export async function startPrometheus(
  target: string,
  metricsPath = '/metrics',
  binary: string = findProgram(PROGRAMS.prometheus) ?? PROGRAMS.prometheus.command,
): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(tmpdir(), 'stoa-prometheus-'))
  const config = join(dir, 'prometheus.yml')
  await writeFile(
    config,
    [
      'global:',
      '  scrape_interval: 500ms',
      '  scrape_timeout: 400ms',
      'scrape_configs:',
      '  - job_name: stoa',
      `    metrics_path: ${metricsPath}`,
      '    static_configs:',
      `      - targets: ['${target}']`,
      '',
    ].join('\n'),
  )
  const port = await freePort()
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  let log = ''
  child.stderr?.on('data', (c: Buffer) => {
    log = (log + c.toString()).slice(-4000)
  })
  // A program that cannot be run (ENOENT, EACCES) emits `error` and never `exit`: without this
  // listener the error would be thrown from the event loop, failing whichever test runs then.
  let spawnError: NodeJS.ErrnoException | undefined
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve())
    child.once('error', (err: NodeJS.ErrnoException) => {
      spawnError = err
      resolve()
    })
  })
  const url = `http://127.0.0.1:${port}`
  const close = async () => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGTERM')
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))])
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL')
    await rm(dir, { recursive: true, force: true })
  }
  // Ready when its readiness endpoint answers 200, within a bound.
  const until = Date.now() + 20_000
  for (;;) {
    if (spawnError !== undefined) {
      await rm(dir, { recursive: true, force: true })
      throw new Error(
        `prometheus could not be started (${binary}: ${spawnError.code}): ${missingProgram(PROGRAMS.prometheus)}`,
      )
    }
    if (child.exitCode !== null) {
      await close()
      throw new Error(`prometheus exited with ${child.exitCode}: ${log}`)
    }
    const ok = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    )
    if (ok) break
    if (Date.now() > until) {
      await close()
      throw new Error(`prometheus did not become ready: ${log}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    url,
    close,
    async query(promql) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`)
      const body = (await res.json()) as {
        status: string
        data: { result: { metric: Record<string, string>; value: [number, string] }[] }
      }
      if (body.status !== 'success') throw new Error(`query failed: ${JSON.stringify(body)}`)
      return body.data.result
    },
  }
}

import { execFile } from 'node:child_process'
import { chownSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort } from '../../helpers/ports.js'

const run = promisify(execFile)

/**
 * A PostgreSQL server of a test's own, in a temporary directory on a free port, trust auth,
 * so that the test can stop and start it while other tests use the machine's server.
 */
export interface OwnPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres`. */
  readonly url: string
  /** Stops it (`pg_ctl stop -m fast`: sessions are terminated, as in a restart). */
  stop(): Promise<void>
  start(): Promise<void>
  /** Stops it and removes its directory. */
  remove(): Promise<void>
}

/** The newest PostgreSQL installed under /usr/lib/postgresql, or undefined. */
export function postgresBin(): string | undefined {
  try {
    const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a))
    return versions.length === 0 ? undefined : `/usr/lib/postgresql/${versions[0]}/bin`
  } catch {
    return undefined
  }
}

/**
 * initdb, then pg_ctl start, as the `postgres` user (PostgreSQL refuses to run as root), in a
 * temporary directory named after `prefix`.
 */
export async function startOwnPostgres(bin: string, prefix = 'voteops-pg-'): Promise<OwnPostgres> {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const { stdout } = await run('id', ['-u', 'postgres'])
  const uid = Number(stdout.trim())
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim())
  chownSync(dir, uid, gid)
  const data = join(dir, 'data')
  const port = await freePort()
  const as = (cmd: string, args: string[]) => run('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args])
  const ctl = (args: string[]) => as('pg_ctl', ['-D', data, '-w', '-t', '60', ...args])
  let running = false
  await as('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync'])
  const start = async () => {
    await ctl([
      '-l',
      join(dir, 'log'),
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      'start',
    ])
    running = true
  }
  await start()
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      await ctl(['-m', 'fast', 'stop'])
      running = false
    },
    start,
    async remove() {
      if (running) await ctl(['-m', 'immediate', 'stop']).catch(() => undefined)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

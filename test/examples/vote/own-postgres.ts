import { execFile } from 'node:child_process'
import { appendFileSync, chownSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
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

/** Where the server runs: a command prefix (`ip netns exec <ns>`) and the address it listens on there. */
export interface PostgresPlace {
  readonly command: readonly string[]
  readonly address: string
}

/**
 * initdb, then pg_ctl start, as the `postgres` user (PostgreSQL refuses to run as root), in a
 * temporary directory named after `prefix`; on 127.0.0.1, or on `place` (another host's address,
 * in its namespace), where the server also drops a client gone silent within seconds (TCP
 * keepalives), so a cut-off client's open transaction does not hold its locks for hours.
 */
export async function startOwnPostgres(
  bin: string,
  prefix = 'voteops-pg-',
  place: PostgresPlace = { command: [], address: '127.0.0.1' },
): Promise<OwnPostgres> {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const { stdout } = await run('id', ['-u', 'postgres'])
  const uid = Number(stdout.trim())
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim())
  chownSync(dir, uid, gid)
  const data = join(dir, 'data')
  const port = await freePort()
  const [first, ...pre] = [...place.command, 'runuser']
  const as = (cmd: string, args: string[]) => run(first!, [...pre, '-u', 'postgres', '--', join(bin, cmd), ...args])
  const ctl = (args: string[]) => as('pg_ctl', ['-D', data, '-w', '-t', '60', ...args])
  let running = false
  await as('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync'])
  // On a host of its own its clients come from the other hosts: trusted on that private network.
  if (place.address !== '127.0.0.1')
    appendFileSync(join(data, 'pg_hba.conf'), `host all all ${place.address.replace(/\.\d+$/, '.0')}/24 trust\n`)
  const start = async () => {
    await ctl([
      '-l',
      join(dir, 'log'),
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=${place.address} -c fsync=off${
        place.address === '127.0.0.1'
          ? ''
          : ' -c tcp_keepalives_idle=2 -c tcp_keepalives_interval=1 -c tcp_keepalives_count=3 -c tcp_user_timeout=5000'
      }`,
      'start',
    ])
    running = true
  }
  await start()
  return {
    url: `postgres://postgres@${place.address}:${port}/postgres`,
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

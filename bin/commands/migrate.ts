import type { Args, Io } from '../io.js'
import { loadService } from '../load.js'
import { writeJson } from '../output.js'
import { UsageError } from '../usage.js'
import { cliLogger, stringFlag } from './shared.js'

/**
 * `stoa migrate <service> status|up`: where the schema of the service's database stands
 * against the migrations its postgres plugin declares, or apply the pending ones (in one
 * transaction under the advisory lock, as a start does). The instance is not started: only
 * the plugin's own connection is opened. `status` exits 1 when the service would refuse to
 * start (an edited step, a version the code does not know).
 *
 * @example
 * await migrate({ positionals: ['./tally.ts', 'status'], values: {} }, io)
 */
export async function migrate(args: Args, io: Io): Promise<number> {
  const [path, op, ...extra] = args.positionals
  if (path === undefined) throw new UsageError('missing <service>: the path of a service module')
  if (op !== 'status' && op !== 'up') throw new UsageError(`missing or unknown step "${op ?? ''}": status or up`)
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`)
  const stoa = await loadService(path, {
    cwd: io.cwd,
    env: io.env,
    name: stringFlag(args, 'name'),
    logger: cliLogger(args, io.stderr),
  })
  // Loaded only here, so that no other command pays for it; found by name in the service.
  const { default: postgres } = await import('../../plugins/postgres/index.js')
  const { StoaError } = await import('../../actions/index.js')
  if (!stoa.hasPlugin(postgres.name)) {
    throw new StoaError('INVALID_PLUGIN', `service "${stoa.name}" loads no postgres plugin: it has no migrations`)
  }
  const handle = stoa.handleOf(postgres)
  if (op === 'up') {
    const applied = await handle.migrations('up')
    writeJson(io.stdout, { applied })
    return 0
  }
  const status = await handle.migrations('status')
  writeJson(io.stdout, status)
  if (status.problems.length === 0) return 0
  for (const p of status.problems) io.stderr.write(`SCHEMA_MISMATCH: ${p}\n`)
  return 1
}

import { loadPeer } from '../../actions/transport.js'
import type { Contract } from '../../plugins/contracts/index.js'
import { describeContract, toAsyncApi, toOpenApi } from '../../plugins/contracts/index.js'
import type { Args, Io } from '../io.js'
import { loadService } from '../load.js'
import { UsageError } from '../usage.js'
import { boolFlag, cliLogger, stringFlag } from './shared.js'

/**
 * `stoa docs <service> [<service> ...] --format openapi|asyncapi [--yaml]`: the service's
 * OpenAPI 3.1 or AsyncAPI 3 document on stdout, as JSON (or YAML), made from the same module
 * `stoa serve` runs, started without any transport. Several services make one document: a
 * gateway's routes then carry the schemas of the actions it forwards to the others.
 *
 * @example
 * await docs({ positionals: ['./math.ts'], values: { format: 'openapi' } }, io)
 */
export async function docs(args: Args, io: Io): Promise<number> {
  const format = stringFlag(args, 'format')
  if (format !== 'openapi' && format !== 'asyncapi') throw new UsageError('--format must be openapi or asyncapi')
  const contracts = await contractsOf(args, io)
  for (const c of contracts) for (const w of c.warnings) io.stderr.write(`stoa docs: ${c.service}: ${w}\n`)
  const doc =
    format === 'openapi'
      ? toOpenApi(contracts, { title: stringFlag(args, 'title') })
      : toAsyncApi(contracts, {
          prefix: stringFlag(args, 'prefix'),
          amqp: stringFlag(args, 'amqp'),
          nats: stringFlag(args, 'nats'),
          title: stringFlag(args, 'title'),
        })
  await writeDocument(io, doc, boolFlag(args, 'yaml'))
  return 0
}

/** The contracts of the service modules named on the command line, each from a started instance. */
export async function contractsOf(args: Args, io: Io): Promise<Contract[]> {
  const paths = args.positionals
  if (paths.length === 0) throw new UsageError('missing <service>: the path of a service module')
  const out: Contract[] = []
  for (const path of paths) {
    const stoa = await loadService(path, {
      cwd: io.cwd,
      env: io.env,
      name: paths.length === 1 ? stringFlag(args, 'name') : undefined,
      logger: cliLogger(args, io.stderr),
    })
    try {
      // Plugins may add actions and routes in their init; no transport is given, so none starts.
      await stoa.ready()
      out.push(await describeContract(stoa))
    } finally {
      await stoa.close()
    }
  }
  return out
}

/** A document as JSON (two-space indented, for diffs) or as YAML, through the optional peer `yaml`. */
async function writeDocument(io: Io, doc: unknown, yaml: boolean): Promise<void> {
  if (!yaml) {
    io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`)
    return
  }
  const { stringify } = await loadPeer<typeof import('yaml')>('yaml', 'stoa docs --yaml')
  io.stdout.write(stringify(doc, { aliasDuplicateObjects: false }))
}

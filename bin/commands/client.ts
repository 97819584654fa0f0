import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { toClientModule } from '../../plugins/contracts/index.js'
import type { Args, Io } from '../io.js'
import { UsageError } from '../usage.js'
import { contractsOf } from './docs.js'
import { boolFlag, stringFlag } from './shared.js'

/**
 * `stoa client <service> [<service> ...] --out client.ts [--js]`: writes a dependency-free
 * client module for the services' web routes and `POST /act`, typed from their contracts
 * (plain JavaScript with `--js`, for pages served as they are).
 *
 * @example
 * await client({ positionals: ['./gateway.ts'], values: { out: 'client.ts' } }, io)
 */
export async function client(args: Args, io: Io): Promise<number> {
  const out = stringFlag(args, 'out')
  if (out === undefined) throw new UsageError('missing --out <file>: where to write the client')
  const contracts = await contractsOf(args, io)
  await writeFile(resolve(io.cwd, out), toClientModule(contracts, { js: boolFlag(args, 'js') }))
  io.stderr.write(`wrote the client of ${contracts.map((c) => c.service).join(', ')} to ${out}\n`)
  return 0
}

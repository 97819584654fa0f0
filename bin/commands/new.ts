import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Args, Io } from '../io.js'
import { writeJson } from '../output.js'
import type { ServiceKind } from '../scaffold.js'
import { SERVICE_KINDS, scaffold } from '../scaffold.js'
import { UsageError } from '../usage.js'
import { stringFlag } from './shared.js'

/**
 * `stoa new <name> --kind worker|gateway|step [--dir <folder>]`: writes a new service project
 * into `<folder>` (default `./<name>`, which must be empty or absent): the service module, a
 * plugin with one typed action, a test on the memory transport, a Dockerfile and the
 * Kubernetes lines to add. `npm install && npm test` passes in it straight away.
 *
 * @example
 * await newService({ positionals: ['greeter'], values: { kind: 'worker' } }, io)
 */
export async function newService(args: Args, io: Io): Promise<number> {
  const [name, ...extra] = args.positionals
  if (name === undefined) throw new UsageError('missing <name>: the new service, in lowercase kebab-case')
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`)
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new UsageError(`"${name}" is not a service name: lowercase kebab-case`)
  const kind = stringFlag(args, 'kind') ?? 'worker'
  if (!(SERVICE_KINDS as readonly string[]).includes(kind))
    throw new UsageError(`--kind is one of ${SERVICE_KINDS.join(', ')}, not "${kind}"`)
  const dir = resolve(io.cwd, stringFlag(args, 'dir') ?? name)
  const present = await readdir(dir).catch(() => [])
  if (present.length > 0) throw new UsageError(`${dir} is not empty: stoa new writes only into an empty folder`)
  await mkdir(dir, { recursive: true })
  // The stoa running this command is the one the new project depends on.
  const { version } = await import('../main.js')
  const files = scaffold(name, kind as ServiceKind, version())
  for (const f of files) await writeFile(join(dir, f.path), f.text)
  writeJson(io.stdout, { service: name, kind, dir, files: files.map((f) => f.path) })
  return 0
}

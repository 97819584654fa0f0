import type { Args, Io } from '../io.js'
import { importModule } from '../load.js'
import { writeJson } from '../output.js'
import { UsageError } from '../usage.js'
import { settingsSource } from './shared.js'

/** A `defineService` service as this command needs it, from any copy of the kernel. */
interface Configurable {
  readonly kind: 'stoa-service'
  readonly name: string
  resolveConfig?(env: Readonly<Record<string, string | undefined>>): {
    readonly shown: Readonly<Record<string, unknown>>
    readonly origin: Readonly<Record<string, string>>
  }
}

/**
 * `stoa config <service>`: prints the settings the service would start with, from this
 * environment (and `--env-file`), as `{ service, config, origin }`: secrets redacted, a URL's
 * password hidden. A missing or invalid setting fails as `stoa serve` would, with
 * `INVALID_CONFIG` naming each variable and its rule. Nothing is started or connected.
 *
 * @example
 * await config({ positionals: ['./auth.ts'], values: {} }, io)
 */
export async function config(args: Args, io: Io): Promise<number> {
  const [path, ...extra] = args.positionals
  if (path === undefined) throw new UsageError('missing <service>: the path of a service module')
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`)
  const exported = await importModule(path, io.cwd)
  const service = exported as Configurable | undefined
  if (service?.kind !== 'stoa-service') {
    throw new UsageError(`${path} exports no service (defineService): only a service declares settings`)
  }
  const env = await settingsSource(args, io)
  // A service of an older copy of the kernel declares no settings.
  const resolved = service.resolveConfig?.(env) ?? { shown: {}, origin: {} }
  writeJson(io.stdout, { service: service.name, config: resolved.shown, origin: resolved.origin })
  return 0
}

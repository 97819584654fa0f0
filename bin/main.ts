import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, exitCodes } from './exit-codes.js'
import type { Args, Command, Io } from './io.js'
import { isStoaErrorLike, writeError, writeStack } from './output.js'
import type { CommandName, CommandSpec } from './usage.js'
import { commandHelp, commands, isCommand, isUsageError, overview, shortUsage } from './usage.js'

/** Each command's module, imported only when that command runs. */
const load: Record<CommandName, () => Promise<Command>> = {
  act: async () => (await import('./commands/act.js')).act,
  send: async () => (await import('./commands/act.js')).send,
  emit: async () => (await import('./commands/act.js')).emit,
  token: async () => (await import('./commands/token.js')).token,
  serve: async () => (await import('./commands/serve.js')).serve,
  list: async () => (await import('./commands/list.js')).list,
  routes: async () => (await import('./commands/routes.js')).routes,
  migrate: async () => (await import('./commands/migrate.js')).migrate,
  config: async () => (await import('./commands/config.js')).config,
  dlq: async () => (await import('./commands/dlq.js')).dlq,
  new: async () => (await import('./commands/new.js')).newService,
  docs: async () => (await import('./commands/docs.js')).docs,
  contract: async () => (await import('./commands/contract.js')).contract,
  client: async () => (await import('./commands/client.js')).client,
  step: async () => (await import('./commands/step.js')).step,
  saga: async () => (await import('./commands/saga.js')).saga,
  help: async () => (await import('./commands/help.js')).help,
}

/**
 * Runs the `stoa` command line and returns its exit code: 0 success, 1 a failure (a
 * `StoaError`, printed as `CODE: message`), 2 a usage error (printed with the usage). Nothing
 * here touches `process`: `bin/stoa.ts` passes it in, tests pass their own streams.
 *
 * @example
 * const code = await main(['act', './math.ts', 'role:math,cmd:sum', 'left=1', 'right=2'], io)
 */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [first, ...rest] = argv
  if (first === '--help' || first === '-h') {
    io.stdout.write(overview())
    return EXIT_OK
  }
  if (first === '--version' || first === '-v') {
    io.stdout.write(`${version()}\n`)
    return EXIT_OK
  }
  if (first === undefined || !isCommand(first)) {
    io.stderr.write(first === undefined ? overview() : `stoa: unknown command "${first}"\n${shortUsage(undefined)}`)
    return EXIT_USAGE
  }
  const name = first
  let args: Args
  try {
    const spec: CommandSpec = commands[name]
    // Built-ins are fetched where used rather than imported: an imported one costs its module facade.
    const parsed = process
      .getBuiltinModule('node:util')
      .parseArgs({ args: rest, options: spec.options, allowPositionals: true, strict: true })
    // No option is declared `multiple`, so every value is a string or a boolean.
    args = { positionals: parsed.positionals, values: parsed.values as Args['values'] }
  } catch (err) {
    // parseArgs explains itself ("Unknown option '--x'"); its codes are all usage mistakes.
    return usage(io, name, (err as Error).message)
  }
  if (args.values.help === true) {
    io.stdout.write(commandHelp(name))
    return EXIT_OK
  }
  const verbose = args.values.verbose === true
  try {
    const command = await load[name]()
    return await command(args, io)
  } catch (err) {
    if (isUsageError(err)) return usage(io, name, err.message)
    if (isStoaErrorLike(err)) {
      writeError(io.stderr, err, verbose)
      return exitCodes[err.code]
    }
    // Not a stoa error: a bug, or something a service module threw outside any action.
    io.stderr.write(`stoa ${name}: ${err instanceof Error ? err.message : String(err)}\n`)
    if (verbose) writeStack(io.stderr, err)
    else io.stderr.write('  (run again with --verbose to see the stack)\n')
    return EXIT_FAILURE
  }
}

/**
 * The version in stoa's package.json: one folder up from bin/ in a clone, two from dist/bin/
 * once built. Read when asked, so other commands never pay for it.
 */
export function version(): string {
  for (const up of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(
        process.getBuiltinModule('node:fs').readFileSync(new URL(up, import.meta.url), 'utf8'),
      ) as {
        name?: unknown
        version?: unknown
      }
      if (pkg.name === 'stoa' && typeof pkg.version === 'string') return pkg.version
    } catch {
      // not here: try one folder further up
    }
  }
  return 'unknown'
}

function usage(io: Io, name: CommandName, message: string): number {
  io.stderr.write(`stoa ${name}: ${message}\n${shortUsage(name)}`)
  return EXIT_USAGE
}

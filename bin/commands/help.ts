import type { Args, Io } from '../io.js'
import { commandHelp, isCommand, overview, UsageError } from '../usage.js'

/**
 * `stoa help [command]`: the list of commands, or one command's full help, on stdout.
 *
 * @example
 * await help({ positionals: ['act'], values: {} }, io)
 */
export async function help(args: Args, io: Io): Promise<number> {
  const [name, ...extra] = args.positionals
  if (extra.length > 0) throw new UsageError('help takes at most one command')
  if (name === undefined) {
    io.stdout.write(overview())
    return 0
  }
  if (!isCommand(name)) throw new UsageError(`unknown command "${name}"`)
  io.stdout.write(commandHelp(name))
  return 0
}

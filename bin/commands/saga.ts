import type { Args, Io } from '../io.js'
import { buildMessage } from '../message.js'
import { UsageError } from '../usage.js'
import { act } from './act.js'
import { stringFlag } from './shared.js'

const SUBCOMMANDS = ['list', 'status', 'signal', 'cancel'] as const

/**
 * `stoa saga list|status|signal|cancel`: the saga plugin's control actions
 * (`role:saga,cmd:…`) on a running service, through the transport `--url` names, as `stoa act`
 * would call them. Ids stay text (`stoa act` would read `id=42` as a number).
 *
 * @example
 * const code = await saga({ positionals: ['status', 'order:42'], values: { url: 'http://127.0.0.1:3000' } }, io)
 */
export async function saga(args: Args, io: Io): Promise<number> {
  if (stringFlag(args, 'url') === undefined)
    throw new UsageError('stoa saga talks to a running service: give --url http://…, amqp://…?service=… or nats://…')
  const [sub, ...rest] = args.positionals
  if (sub === undefined || !(SUBCOMMANDS as readonly string[]).includes(sub))
    throw new UsageError(`say what to do: ${SUBCOMMANDS.join(', ')}`)
  let msg: Record<string, unknown>
  if (sub === 'list') {
    msg = buildMessage(rest)
    for (const key of Object.keys(msg))
      if (key !== 'state' && key !== 'limit') throw new UsageError(`list takes state=… and limit=…, not ${key}`)
  } else {
    const [id, ...more] = rest
    if (id === undefined) throw new UsageError(`missing <id>: the saga's id`)
    if (sub === 'status') {
      if (more.length > 0) throw new UsageError(`unexpected argument "${more[0]}"`)
      msg = { id }
    } else if (sub === 'signal') {
      const [name, ...pairs] = more
      if (name === undefined) throw new UsageError('missing <name>: the signal the saga waits for')
      msg = pairs.length === 0 ? { id, name } : { id, name, data: buildMessage(pairs) }
    } else {
      msg = more.length === 0 ? { id } : { id, reason: more.join(' ') }
    }
  }
  const values: Args['values'] = { ...args.values, json: JSON.stringify(msg) }
  return act({ positionals: [`role:saga,cmd:${sub}`], values }, io)
}

import type { Args, Io } from '../io.js'
import { buildMessage } from '../message.js'
import { UsageError } from '../usage.js'
import { act } from './act.js'
import { stringFlag } from './shared.js'

const SUBCOMMANDS = ['list', 'status', 'signal', 'cancel'] as const

/**
 * `stoa saga list|status|signal|cancel`: the saga plugin's control actions
 * (`role:saga,cmd:…`) on a running service, through the transport `--url` names (or `--amqp`,
 * `--nats` with `--service`), as `stoa act` would call them. Ids stay text (`stoa act` would read `id=42` as a number).
 *
 * @example
 * const code = await saga({ positionals: ['status', 'order:42'], values: { url: 'http://127.0.0.1:3000' } }, io)
 */
export async function saga(args: Args, io: Io): Promise<number> {
  const url = target(args)
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
  const { amqp: _amqp, nats: _nats, ...rest2 } = args.values
  const values: Args['values'] = { ...rest2, url, json: JSON.stringify(msg) }
  return act({ positionals: [`role:saga,cmd:${sub}`], values }, io)
}

/** Where the service runs: `--url` (any transport), `--amqp` (RabbitMQ) or `--nats`, one of them. */
function target(args: Args): string {
  const given = (['url', 'amqp', 'nats'] as const).flatMap((flag) => {
    const value = stringFlag(args, flag)
    return value === undefined ? [] : [{ flag, value }]
  })
  if (given.length === 0)
    throw new UsageError(
      'stoa saga talks to a running service: give --url http://…, --amqp amqp://… --service <name>, or --nats nats://… --service <name>',
    )
  if (given.length > 1)
    throw new UsageError(`give one of --url, --amqp and --nats, not ${given.map((g) => `--${g.flag}`).join(' and ')}`)
  const { flag, value } = given[0]!
  if (flag === 'amqp' && !/^amqps?:\/\//.test(value))
    throw new UsageError(`--amqp takes an amqp:// or amqps:// URL, not "${value}"`)
  if (flag === 'nats' && !/^nats:\/\//.test(value)) throw new UsageError(`--nats takes a nats:// URL, not "${value}"`)
  return value
}

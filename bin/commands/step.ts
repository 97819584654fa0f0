import type { Stoa } from '../../actions/index.js'
import { parsePattern } from '../../actions/index.js'
import type { Args, Io } from '../io.js'
import { declaredClients, loadService } from '../load.js'
import { buildMessage, coerceBySchema } from '../message.js'
import { writeJson } from '../output.js'
import { amqpUrl, natsUrl } from '../remote.js'
import { UsageError } from '../usage.js'
import { cliLogger, stringFlag } from './shared.js'

/**
 * `stoa step <service> <pattern> [key=value ...]`: a step service's one run. Starts the service
 * with its clients (the broker `--amqp` or `--nats` names carries the tasks and events it sends,
 * and the acts of the services it declares), listening on nothing; runs the action once; closes
 * gracefully (sends confirmed, work drained) and returns 0, or fails with the action's error,
 * whose code the entry turns into the error table's exit code. The shape a Kubernetes Job, a
 * CronJob, a Lambda or a cron line runs.
 *
 * @example
 * const code = await step({ positionals: ['./export.ts', 'role:export,cmd:nightly'], values: {} }, io)
 */
export async function step(args: Args, io: Io): Promise<number> {
  const [path, patternText, ...pairs] = args.positionals
  if (path === undefined) throw new UsageError('missing <service>: the path of a service module')
  if (patternText === undefined) throw new UsageError('missing <pattern>, like role:export,cmd:nightly')
  let pattern: Record<string, string>
  try {
    pattern = parsePattern(patternText) as Record<string, string>
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const amqpText = stringFlag(args, 'amqp')
  const natsText = stringFlag(args, 'nats')
  if (amqpText !== undefined && natsText !== undefined) throw new UsageError('give one broker: --amqp or --nats')
  const stoa = await loadService(path, {
    cwd: io.cwd,
    name: stringFlag(args, 'name'),
    logger: cliLogger(args, io.stderr),
  })
  try {
    await clients(stoa, amqpText, natsText)
    await stoa.ready()
    const data = buildMessage(pairs)
    const message = await coerceBySchema(stoa.find({ ...data, ...pattern })?.schema, data, pairs, pattern)
    const out = await stoa.act(pattern, message, { caller: 'step' })
    writeJson(io.stdout, out ?? null)
    return 0
  } finally {
    await stoa.close()
  }
}

/** The broker's client for the service's own sends and emits, and one per service it declares. */
async function clients(stoa: Stoa, amqpText: string | undefined, natsText: string | undefined): Promise<void> {
  const declared = Object.entries(declaredClients(stoa))
  if (amqpText !== undefined) {
    const options = amqpUrl(amqpText, undefined)
    if (options.target !== undefined)
      throw new UsageError('?service= names a service to call: step calls the ones its module declares')
    const { createAmqpTransport } = await import('../../transports/amqp/index.js')
    stoa.client(createAmqpTransport(options))
    for (const [target, pins] of declared) stoa.client(createAmqpTransport({ ...options, target }), pins)
  } else if (natsText !== undefined) {
    const options = natsUrl(natsText, undefined)
    const { createNatsTransport } = await import('../../transports/nats/index.js')
    stoa.client(createNatsTransport(options))
    for (const [target, pins] of declared) stoa.client(createNatsTransport({ ...options, target }), pins)
  }
}

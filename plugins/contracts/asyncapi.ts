import { ERROR_CODES } from '../../actions/index.js'
import type { JsonSchema } from './json-schema.js'
import type { Contract, ContractAction } from './model.js'

/** Options of {@link toAsyncApi}. */
export interface AsyncApiOptions {
  /** The AMQP and NATS transports' `prefix`, first segment of every name. Default `stoa`. */
  readonly prefix?: string
  /** `host:port` of the RabbitMQ server, for `servers`. Default `127.0.0.1:5672`. */
  readonly amqp?: string
  /** `host:port` of the NATS server, for `servers`; undefined leaves NATS out. */
  readonly nats?: string
  /** `info.title`; default the services' names. */
  readonly title?: string
}

const AMQP_BINDING = '0.3.0'
const NATS_BINDING = '0.1.0'
type Doc = Record<string, unknown>

/** The headers every task and event carries over AMQP (docs/wire.md). */
const AMQP_HEADERS: JsonSchema = {
  type: 'object',
  properties: {
    'x-stoa-trace': { type: 'string', description: 'the trace id shared by a chain of calls' },
    'x-stoa-token': { type: 'string', description: "the caller's identity token (JWT)" },
    'x-stoa-timeout-ms': { type: 'integer', minimum: 0, description: 'the time left when sent, ms' },
    'x-stoa-attempt': { type: 'integer', minimum: 1, description: 'tries already made' },
    traceparent: { type: 'string' },
    tracestate: { type: 'string' },
  },
}

/** The headers of a task or an event over NATS (docs/wire.md): no `x-` prefix, JetStream's id. */
const NATS_HEADERS: JsonSchema = {
  type: 'object',
  properties: {
    'Nats-Msg-Id': {
      type: 'string',
      description: "the envelope id; JetStream drops a second publish of it within the stream's duplicate window",
    },
    'stoa-trace': {
      type: 'string',
      description: 'the trace id shared by a chain of calls, when it differs from the id',
    },
    'stoa-token': { type: 'string', description: "the caller's identity token (JWT)" },
    'stoa-caller': { type: 'string', description: 'the calling service' },
    'stoa-timeout-ms': { type: 'string', pattern: '^[0-9]+$', description: 'the time left when sent, ms' },
    traceparent: { type: 'string' },
    tracestate: { type: 'string' },
  },
}

/** The `stoa` part of an act's body over NATS, which carries no headers (docs/wire.md). */
const NATS_ACT_META: JsonSchema = {
  type: 'object',
  required: ['v', 'id'],
  properties: {
    v: { const: 1, description: "the format's version" },
    id: { type: 'string', description: 'the envelope id' },
    trace: { type: 'string', description: 'the trace id shared by a chain of calls, when it differs from the id' },
    timeoutMs: { type: 'integer', minimum: 0, description: 'the time left when sent, ms' },
    caller: { type: 'string', description: 'the calling service' },
    token: { type: 'string', description: "the caller's identity token (JWT)" },
    traceparent: { type: 'string' },
    tracestate: { type: 'string' },
  },
}

/** What a dead letter adds to its headers. */
const DEAD_LETTER_HEADERS: JsonSchema = {
  type: 'object',
  required: ['x-stoa-error-code', 'x-stoa-error-message', 'x-stoa-attempts', 'x-stoa-queue'],
  properties: {
    ...(AMQP_HEADERS.properties as JsonSchema),
    'x-stoa-error-code': { type: 'string', enum: [...ERROR_CODES] },
    'x-stoa-error-message': { type: 'string' },
    'x-stoa-attempts': { type: 'integer', minimum: 1 },
    'x-stoa-queue': { type: 'string', description: 'the queue it was taken from' },
  },
}

/**
 * What a dead letter carries over NATS: the task's or event's headers, its id as `stoa-id`
 * instead of `Nats-Msg-Id` (which would make JetStream take it for a duplicate), and why.
 */
const NATS_DEAD_LETTER_HEADERS: JsonSchema = {
  type: 'object',
  required: ['stoa-error-code', 'stoa-error-message', 'stoa-attempts', 'stoa-subject'],
  properties: {
    ...Object.fromEntries(Object.entries(NATS_HEADERS.properties as JsonSchema).filter(([k]) => k !== 'Nats-Msg-Id')),
    'stoa-id': { type: 'string', description: "the envelope id (the original's Nats-Msg-Id)" },
    'stoa-error-code': { type: 'string', enum: [...ERROR_CODES] },
    'stoa-error-message': { type: 'string' },
    'stoa-attempts': { type: 'string', pattern: '^[0-9]+$', description: 'how many tries were made' },
    'stoa-subject': { type: 'string', description: 'the subject it was published on' },
  },
}

/** A reply to an act: `{ ok, out }` or `{ ok: false, error }`. */
function replySchema(result: JsonSchema | null): JsonSchema {
  return {
    oneOf: [
      { type: 'object', required: ['ok'], properties: { ok: { const: true }, out: result ?? {} } },
      {
        type: 'object',
        required: ['ok', 'error'],
        properties: {
          ok: { const: false },
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: {
              code: { type: 'string', enum: [...ERROR_CODES] },
              message: { type: 'string' },
              details: { type: 'object' },
            },
          },
        },
      },
    ],
  }
}

/**
 * The AsyncAPI 3 document of one or more services on the message bus, as docs/wire.md lays it
 * out: the task queue of each service with the tasks it handles and the tasks sent to it, the
 * events exchange with the events emitted, each service's event queue with its subscriptions,
 * the RPC queue for acts with its reply on direct reply-to, and the dead-letter queue with its
 * headers; AMQP bindings on each (exchange, queue, routing key, durability), and with `nats`
 * the same channels as NATS subjects. Payloads are the actions' and declarations' schemas.
 *
 * @example
 * const doc = toAsyncApi([await describeContract(stoa)], { prefix: 'vote' })
 */
export function toAsyncApi(contracts: readonly Contract[], options: AsyncApiOptions = {}): Doc {
  const p = options.prefix ?? 'stoa'
  const channels: Doc = {}
  const operations: Doc = {}
  const servers: Doc = { amqp: { host: options.amqp ?? '127.0.0.1:5672', protocol: 'amqp' } }
  if (options.nats !== undefined) servers.nats = { host: options.nats, protocol: 'nats' }
  const nats = options.nats !== undefined
  const amqpOnly = nats ? [{ $ref: '#/servers/amqp' }] : undefined
  const natsOnly = [{ $ref: '#/servers/nats' }]
  const queue = (name: string, durable: boolean) => ({
    amqp: {
      is: 'queue',
      queue: { name, durable, exclusive: false, autoDelete: false, vhost: '/' },
      bindingVersion: AMQP_BINDING,
    },
  })
  const message = (name: string, payload: JsonSchema | null, headers: JsonSchema = AMQP_HEADERS): Doc => ({
    name,
    title: name,
    contentType: 'application/json',
    payload: payload ?? {},
    headers,
    bindings: { amqp: { messageType: name, bindingVersion: AMQP_BINDING } },
  })
  /** The same messages as they travel over NATS: NATS headers, no AMQP binding. */
  const overNats = (messages: Doc): Doc => {
    const out: Doc = {}
    for (const [k, m] of Object.entries(messages)) {
      const { bindings: _amqp, ...rest } = m as Doc
      out[k] = { ...rest, headers: NATS_HEADERS }
    }
    return out
  }
  const addChannel = (id: string, channel: Doc, onNats?: Doc): void => {
    channels[id] = amqpOnly === undefined ? channel : { ...channel, servers: amqpOnly }
    if (onNats !== undefined && nats) channels[`${id}.nats`] = { ...onNats, servers: natsOnly }
  }
  const ref = (id: string) => ({ $ref: `#/channels/${id}` })
  const msgRef = (id: string, name: string) => ({ $ref: `#/channels/${id}/messages/${key(name)}` })

  // Tasks: one queue per receiving service, holding every task named for it.
  const tasks = new Map<string, Map<string, JsonSchema | null>>()
  const sentBy = new Map<string, string[]>()
  for (const c of contracts) {
    for (const t of c.tasks.handles) taskOf(tasks, t.name, t.payload)
    for (const t of c.tasks.sends) {
      taskOf(tasks, t.name, t.payload)
      sentBy.set(t.name, [...(sentBy.get(t.name) ?? []), c.service])
    }
  }
  for (const [service, named] of tasks) {
    const id = `tasks.${service}`
    const messages: Doc = {}
    for (const [name, payload] of named) messages[key(name)] = message(name, payload)
    addChannel(
      id,
      {
        address: `${p}.tasks.${service}`,
        title: `tasks for ${service}`,
        description: `tasks <${service}.entity.request>; the instances of ${service} compete for them`,
        messages,
        bindings: queue(`${p}.tasks.${service}`, true),
      },
      {
        address: `${p}.tasks.${service}.>`,
        messages: overNats(messages),
        title: `tasks for ${service} (stream ${p}_tasks_${service})`,
      },
    )
  }
  for (const c of contracts) {
    for (const t of c.tasks.handles) {
      const id = `tasks.${t.name.split('.')[0]}`
      operations[`${c.service}.handle.${key(t.name)}`] = {
        action: 'receive',
        channel: ref(id),
        summary: `${c.service} handles ${t.name}`,
        messages: [msgRef(id, t.name)],
        bindings: { amqp: { ack: true, bindingVersion: AMQP_BINDING } },
      }
    }
    for (const t of c.tasks.sends) {
      const id = `tasks.${t.name.split('.')[0]}`
      operations[`${c.service}.send.${key(t.name)}`] = {
        action: 'send',
        channel: ref(id),
        summary: `${c.service} sends ${t.name}`,
        messages: [msgRef(id, t.name)],
        bindings: {
          amqp: { cc: [`${p}.tasks.${t.name.split('.')[0]}`], deliveryMode: 2, bindingVersion: AMQP_BINDING },
        },
      }
    }
  }

  // Events: one topic exchange; each subscribing service has its own queue bound to it.
  const events = new Map<string, JsonSchema | null>()
  for (const c of contracts)
    for (const e of c.events.emits)
      if (!events.has(e.name) || events.get(e.name) === null) events.set(e.name, e.payload)
  for (const c of contracts)
    for (const name of c.events.subscribes) if (!events.has(name) && !name.includes('*')) events.set(name, null)
  if (events.size > 0) {
    const messages: Doc = {}
    for (const [name, payload] of events) messages[key(name)] = message(name, payload)
    addChannel(
      'events',
      {
        address: `${p}.events`,
        title: 'every event',
        description: 'a topic exchange; the routing key is the event name <entity>.<verb>',
        messages,
        bindings: {
          amqp: {
            is: 'routingKey',
            exchange: { name: `${p}.events`, type: 'topic', durable: true, autoDelete: false, vhost: '/' },
            bindingVersion: AMQP_BINDING,
          },
        },
      },
      { address: `${p}.events.>`, messages: overNats(messages), title: `every event (stream ${p}_events)` },
    )
    for (const c of contracts) {
      for (const e of c.events.emits) {
        operations[`${c.service}.emit.${key(e.name)}`] = {
          action: 'send',
          channel: ref('events'),
          summary: `${c.service} emits ${e.name}`,
          messages: [msgRef('events', e.name)],
          bindings: { amqp: { cc: [e.name], deliveryMode: 2, bindingVersion: AMQP_BINDING } },
        }
      }
    }
  }
  for (const c of contracts) {
    if (c.events.subscribes.length === 0) continue
    const id = `events.${c.service}`
    const messages: Doc = {}
    for (const [name, payload] of events)
      if (c.events.subscribes.some((s) => subscribed(s, name))) messages[key(name)] = message(name, payload)
    addChannel(
      id,
      {
        address: `${p}.events.${c.service}`,
        title: `events heard by ${c.service}`,
        description: `bound to ${p}.events with ${c.events.subscribes.join(', ')}: each event once per service`,
        messages,
        bindings: queue(`${p}.events.${c.service}`, true),
      },
      {
        address: `${p}.events.>`,
        messages: overNats(messages),
        title: `events heard by ${c.service} (consumer ${c.service})`,
      },
    )
    operations[`${c.service}.hear`] = {
      action: 'receive',
      channel: ref(id),
      summary: `${c.service} hears ${c.events.subscribes.join(', ')}`,
      bindings: { amqp: { ack: true, bindingVersion: AMQP_BINDING } },
    }
  }

  // Acts: the RPC queue of each service, answered on direct reply-to; and its dead letters.
  for (const c of contracts) {
    const acts = c.actions.filter((a) => a.kind === 'action')
    if (acts.length > 0) {
      const id = `rpc.${c.service}`
      const replyId = `rpc.${c.service}.reply`
      const messages: Doc = {}
      const replies: Doc = {}
      const overNats: Doc = {}
      for (const a of acts) {
        messages[key(a.pattern)] = { ...message(a.pattern, actMessage(a)), summary: a.description ?? a.pattern }
        replies[key(a.pattern)] = message(`${a.pattern} reply`, replySchema(a.result), { type: 'object' })
        overNats[key(a.pattern)] = {
          name: a.pattern,
          title: a.pattern,
          summary: a.description ?? a.pattern,
          contentType: 'application/json',
          payload: {
            type: 'object',
            required: ['stoa', 'msg'],
            properties: { stoa: NATS_ACT_META, msg: actMessage(a) },
          },
        }
      }
      addChannel(
        id,
        {
          address: `${p}.rpc.${c.service}`,
          title: `acts for ${c.service}`,
          messages,
          bindings: queue(`${p}.rpc.${c.service}`, false),
        },
        { address: `${p}.rpc.${c.service}`, messages: overNats, title: `acts for ${c.service} (queue group)` },
      )
      addChannel(replyId, {
        address: 'amq.rabbitmq.reply-to',
        title: `replies from ${c.service}`,
        description: "RabbitMQ's direct reply-to; the request's correlation-id pairs them",
        messages: replies,
      })
      operations[`${c.service}.act`] = {
        action: 'receive',
        channel: ref(id),
        summary: `${c.service} answers acts`,
        messages: acts.map((a) => msgRef(id, a.pattern)),
        reply: { channel: ref(replyId), messages: acts.map((a) => msgRef(replyId, a.pattern)) },
      }
    }
    if (c.tasks.handles.length > 0 || c.events.subscribes.length > 0) {
      const id = `dlq.${c.service}`
      addChannel(
        id,
        {
          address: `${p}.dlq.${c.service}`,
          title: `dead letters of ${c.service}`,
          description: 'tasks and events that failed every try or could never run, with why in their headers',
          messages: { deadLetter: message('dead letter', null, DEAD_LETTER_HEADERS) },
          bindings: queue(`${p}.dlq.${c.service}`, true),
        },
        {
          address: `${p}.dlq.${c.service}`,
          messages: {
            deadLetter: {
              ...(overNats({ d: message('dead letter', null) }).d as Doc),
              headers: NATS_DEAD_LETTER_HEADERS,
            },
          },
          title: `dead letters of ${c.service} (stream ${p}_dlq_${c.service})`,
        },
      )
      operations[`${c.service}.deadLetter`] = {
        action: 'send',
        channel: ref(id),
        summary: `${c.service} dead-letters what it cannot run`,
      }
    }
  }
  if (nats) {
    for (const [id, op] of Object.entries(operations)) {
      const channelId = ((op as Doc).channel as { $ref: string }).$ref.slice('#/channels/'.length)
      if (channels[`${channelId}.nats`] === undefined) continue
      const { reply: _reply, bindings: _b, messages: _m, ...rest } = op as Doc
      operations[`${id}.nats`] = {
        ...rest,
        channel: ref(`${channelId}.nats`),
        ...(id.endsWith('.act')
          ? { bindings: { nats: { queue: `${p}.rpc.${id.slice(0, -4)}`, bindingVersion: NATS_BINDING } } }
          : {}),
      }
    }
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: options.title ?? contracts.map((c) => c.service).join(', '),
      version: contracts[0]?.version ?? '0.0.0',
    },
    defaultContentType: 'application/json',
    servers,
    channels,
    operations,
  }
}

/** An act's message: the pattern's pairs are part of it. */
function actMessage(a: ContractAction): JsonSchema {
  const pairs: Record<string, JsonSchema> = {}
  for (const [k, v] of Object.entries(a.pairs)) pairs[k] = { const: v }
  if (a.message === null) return { type: 'object', required: Object.keys(pairs), properties: pairs }
  return { allOf: [{ type: 'object', required: Object.keys(pairs), properties: pairs }, a.message] }
}

function taskOf(tasks: Map<string, Map<string, JsonSchema | null>>, name: string, payload: JsonSchema | null): void {
  const service = name.split('.')[0]!
  const named = tasks.get(service) ?? new Map<string, JsonSchema | null>()
  tasks.set(service, named)
  if (!named.has(name) || named.get(name) === null) named.set(name, payload)
}

/** Whether a subscription (`vote.*`) hears an event name. */
function subscribed(subscription: string, name: string): boolean {
  const s = subscription.split('.')
  const n = name.split('.')
  return (
    s.length === n.length &&
    s.every((part, i) => part === '*' || part === n[i] || (part.endsWith('*') && n[i]!.startsWith(part.slice(0, -1))))
  )
}

/** A key AsyncAPI accepts for a message or operation: letters, digits, `.`, `-`, `_`. */
function key(name: string): string {
  return name.replace(/[^\w.-]/g, '_')
}

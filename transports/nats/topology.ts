import type { StreamConfig } from '@nats-io/jetstream'

/**
 * The subjects, streams and consumers of the NATS transport. Every name starts with the
 * `prefix` option (default `stoa`, written `P` here), so several systems or test runs share
 * one server without meeting. Stream names cannot hold a dot, so they join with `_`.
 *
 * | name | kind | holds | notes |
 * | --- | --- | --- | --- |
 * | `P.rpc.<service>` | core subject, queue group of the same name | requests (acts) for the service | one instance of the group answers; replies go to the caller's inbox |
 * | `P_tasks_<service>` | stream, work-queue retention, file storage | tasks on `P.tasks.<service>.>` (`P.tasks.<task name>`) | created by senders too, so no task is published into nowhere; a task leaves it once acknowledged |
 * | `tasks` on `P_tasks_<service>` | durable pull consumer, explicit ack | shared by every instance of the service: each task goes to one of them | |
 * | `P_events` | stream, interest retention, file storage | every event, on `P.events.<entity>.<verb>` | an event leaves it once every consumer took it; one with no subscriber is not kept |
 * | `<service>` on `P_events` | durable pull consumer, explicit ack | the events one service subscribed to, once per service whatever its instance count | filtered on one subject (`P.events.vote.*`) when the service's subscriptions share one, else on `P.events.>` and sorted on receipt |
 * | `P_dlq_<service>` | stream, limits retention, file storage | tasks and events that failed every try, or could never run (poison), on `P.dlq.<service>` | with `stoa-error-code`, `stoa-error-message`, `stoa-attempts`, `stoa-subject` |
 */
export interface Names {
  readonly rpc: (service: string) => string
  readonly taskSubject: (task: string) => string
  readonly taskStream: (service: string) => string
  readonly taskConsumer: string
  readonly eventSubject: (event: string) => string
  readonly eventStream: string
  readonly dlqSubject: (service: string) => string
  readonly dlqStream: (service: string) => string
  /** The part of a task or event subject before its name. */
  readonly taskBase: string
  readonly eventBase: string
}

/** The names derived from one prefix. */
export function names(prefix: string): Names {
  return {
    rpc: (service) => `${prefix}.rpc.${service}`,
    taskSubject: (task) => `${prefix}.tasks.${task}`,
    taskStream: (service) => `${prefix}_tasks_${service}`,
    taskConsumer: 'tasks',
    eventSubject: (event) => `${prefix}.events.${event}`,
    eventStream: `${prefix}_events`,
    dlqSubject: (service) => `${prefix}.dlq.${service}`,
    dlqStream: (service) => `${prefix}_dlq_${service}`,
    taskBase: `${prefix}.tasks.`,
    eventBase: `${prefix}.events.`,
  }
}

/** A stream's configuration, as given to JetStream: its name and what is set. */
export type StreamSpec = Partial<StreamConfig> & { name: string }

/** How streams are made; every instance and sender must agree, or JetStream refuses the second. */
export interface StreamSettings {
  readonly replicas: number
}

/** The work-queue stream of one service's tasks. */
export function taskStream(n: Names, s: StreamSettings, service: string): StreamSpec {
  return {
    name: n.taskStream(service),
    subjects: [`${n.taskBase}${service}.>`],
    retention: 'workqueue',
    storage: 'file',
    num_replicas: s.replicas,
  }
}

/** The stream of every event. */
export function eventStream(n: Names, s: StreamSettings): StreamSpec {
  return {
    name: n.eventStream,
    subjects: [`${n.eventBase}>`],
    retention: 'interest',
    storage: 'file',
    num_replicas: s.replicas,
  }
}

/** The dead-letter stream of one service. */
export function dlqStream(n: Names, s: StreamSettings, service: string): StreamSpec {
  return {
    name: n.dlqStream(service),
    subjects: [n.dlqSubject(service)],
    retention: 'limits',
    storage: 'file',
    num_replicas: s.replicas,
  }
}

/**
 * The one filter subject of a service's event consumer. NATS subjects match whole tokens, so
 * `user.auth*` filters on `user.*` and the listener sorts what arrives; subscriptions with no
 * common filter take `P.events.>` (NATS 2.9 allows a consumer one filter subject only).
 */
export function eventFilter(n: Names, subscriptions: readonly string[]): string {
  const keys = new Set(
    subscriptions.map((s) =>
      s
        .split('.')
        .map((part) => (part.includes('*') ? '*' : part))
        .join('.'),
    ),
  )
  if (keys.size === 1) return `${n.eventBase}${[...keys][0]!}`
  // Two keys where one covers the other (`vote.*` and `vote.cast`) still need only the wider.
  const list = [...keys]
  const wide = list.find((k) => list.every((o) => covers(k, o)))
  return wide === undefined ? `${n.eventBase}>` : `${n.eventBase}${wide}`
}

function covers(wide: string, narrow: string): boolean {
  const w = wide.split('.')
  const o = narrow.split('.')
  return w.length === o.length && w.every((p, i) => p === '*' || p === o[i])
}

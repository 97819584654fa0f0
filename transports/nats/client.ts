import type { Envelope, Reply, TransportClient, TransportHost } from '../../actions/transport.js'
import {
  assertEventName,
  assertTaskName,
  errorReply,
  StoaError,
  taskService,
  toStoaError,
} from '../../actions/transport.js'
import type { Link } from './connection.js'
import { unavailable } from './connection.js'
import type { ResolvedNatsOptions } from './options.js'
import type { Answer } from './replies.js'
import type { Names } from './topology.js'
import { eventStream, taskStream } from './topology.js'
import { decodePubAck, decodeReply, encodeAct, encodeRequest } from './wire.js'

/** A request with no deadline waits this long for its reply. */
const DEFAULT_WAIT_MS = 30_000

/**
 * The client a transport hands to the kernel. Acts are core NATS requests to the target's
 * subject, the deadline their timeout; the server answers at once when no instance listens
 * (no responders), so a caller never waits for nobody. Tasks and events are JetStream
 * publishes, resolved only once JetStream acknowledged them as stored; a task's stream is
 * created by the sender too, so no task is published into nowhere.
 */
export function createClient(
  link: Link,
  options: ResolvedNatsOptions,
  n: Names,
  target: string | undefined,
  host: Pick<TransportHost, 'log' | 'observer'>,
): TransportClient {
  const { log, observer } = host
  const subject = target === undefined ? undefined : n.rpc(target)
  const settings = { replicas: options.replicas }

  /** What an act's outcome says to its caller, made once per client rather than per act. */
  const actReply = (answer: Answer): Reply => {
    if (answer.ok) return decodeReply(answer.msg.data)
    if (answer.why === 'no-responders') return errorReply(unavailable(`no instance listens on "${subject}"`))
    if (answer.why === 'timeout') return errorReply(new StoaError('TIMEOUT', 'no reply before the deadline'))
    if (answer.why === 'unsent') {
      log.warn({ err: String(answer.cause), subject }, 'nats: request failed')
      return errorReply(unavailable('the request could not be sent', answer.cause))
    }
    return errorReply(unavailable('the connection closed before the reply'))
  }

  /** An act: never rejects. No `async`: a promise and a turn of the microtask queue less per act. */
  function act(e: Envelope): Promise<Reply> {
    if (subject === undefined)
      return Promise.resolve(errorReply(new StoaError('NOT_FOUND', 'this nats client has no target service for acts')))
    const c = link.connected
    if (c === undefined) return link.connect().then(() => act(e), failed)
    try {
      const now = Date.now()
      const body = encodeAct(e, options.maxBodyBytes, now)
      const deadline = Math.max(now + 1, e.meta.deadline ?? now + DEFAULT_WAIT_MS)
      return c.replies.request(subject, body, undefined, deadline, actReply)
    } catch (err) {
      return Promise.resolve(errorReply(toStoaError(err)))
    }
  }

  async function publish(e: Envelope): Promise<Reply> {
    let subj: string
    if (e.kind === 'send') {
      assertTaskName(e.name)
      subj = n.taskSubject(e.name)
    } else {
      assertEventName(e.name)
      subj = n.eventSubject(e.name)
    }
    const c = await link.connect()
    const stream = e.kind === 'send' ? taskStream(n, settings, taskService(e.name)) : eventStream(n, settings)
    await link.ensureStream(c, stream)
    const out = encodeRequest(e, options.maxBodyBytes, c.headers())
    const until = Date.now() + Math.min(options.publishTimeoutMs, (e.meta.deadline ?? Infinity) - Date.now())
    for (let again = true; ; again = false) {
      const sent = performance.now()
      // A JetStream publish is a request whose reply is the stream's acknowledgement.
      const answer = await c.replies.request(subj, out.body, out.headers, Math.max(until, Date.now() + 1), same)
      if (!answer.ok && answer.why === 'unsent') {
        log.warn({ err: String(answer.cause), subject: subj }, 'nats: publish not sent')
        throw unavailable('the publish could not be sent', answer.cause)
      }
      if (answer.ok) {
        const ack = decodePubAck(answer.msg.data)
        observer.confirmed?.(performance.now() - sent, ack.ok)
        if (ack.ok) return OK
        log.warn({ err: ack.error, subject: subj }, 'nats: publish not acknowledged')
        throw unavailable('JetStream refused the publish', new Error(ack.error))
      }
      // No stream answers the subject: it was deleted, or lost with a server that kept it in
      // memory. Make it again and publish once more (the message id keeps this from doubling).
      if (again && answer.why === 'no-responders') {
        link.forgetStream(stream.name)
        await link.ensureStream(c, stream)
        continue
      }
      log.warn({ err: answer.why, subject: subj }, 'nats: publish not acknowledged')
      throw answer.why === 'timeout'
        ? unavailable('JetStream did not acknowledge the publish in time')
        : answer.why === 'no-responders'
          ? unavailable('JetStream refused the publish: no stream takes the subject')
          : unavailable('the connection closed before JetStream acknowledged the publish')
    }
  }

  return {
    deliver: (e) => (e.kind === 'act' ? act(e) : publish(e).catch(failed)),
  }
}

const OK: Reply = { ok: true, out: undefined }

function failed(err: unknown): Reply {
  return errorReply(toStoaError(err))
}

function same(answer: Answer): Answer {
  return answer
}

import type { Envelope, Message } from '../../actions/transport.js'
import { StoaError } from '../../actions/transport.js'
import type { EventProcessor } from './processor.js'
import { assertSubscribed, lambdaDeadline } from './processor.js'
import { thrownError } from './wire.js'

/** The parts of an EventBridge event read here. */
interface BridgeEvent {
  id?: string
  'detail-type': string
  source: string
  detail: unknown
}

/**
 * EventBridge events: `detail-type` is the stoa event name (or maps to one through the
 * handler's `events` option), `detail` the event's data, delivered to this service's
 * subscribers. EventBridge invokes asynchronously, so a failure is thrown: Lambda retries it
 * and then hands it to the function's dead-letter queue or on-failure destination. An event
 * no subscriber here takes is a failure too, since a rule sent it to the wrong function.
 */
export const eventBridgeProcessor: EventProcessor<BridgeEvent> = {
  kind: 'eventbridge',
  matches(e) {
    return typeof e['detail-type'] === 'string' && typeof e.source === 'string' && Object.hasOwn(e, 'detail')
  },
  async handle(event, context, rt) {
    const arrived = Date.now()
    const detailType = event['detail-type']
    const name = Object.hasOwn(rt.settings.events, detailType) ? rt.settings.events[detailType]! : detailType
    try {
      assertSubscribed(rt.host, name)
      const detail = event.detail ?? {}
      if (typeof detail !== 'object' || Array.isArray(detail))
        throw new StoaError('INVALID_MESSAGE', 'the EventBridge detail must be a JSON object')
      const id =
        typeof event.id === 'string' && /^[\w.:/@*-]{1,200}$/.test(event.id)
          ? event.id
          : (context?.awsRequestId ?? 'eventbridge')
      const e: Envelope = { kind: 'emit', name, msg: detail as Message, meta: { id, trace: id, caller: 'eventbridge' } }
      const limit = lambdaDeadline(context, arrived, rt.settings.marginMs)
      if (limit !== undefined) e.meta.deadline = limit
      const reply = await rt.host.dispatch(e)
      if (!reply.ok) throw thrownError(reply.error)
      return undefined
    } catch (err) {
      const error = err instanceof StoaError ? err : new StoaError('ACTION_FAILED', 'the event could not be delivered')
      rt.log.error(
        { detailType, source: event.source, event: name, code: error.code, reason: error.message },
        'EventBridge event failed; Lambda will retry it',
      )
      throw error.message.startsWith(`${error.code}: `) ? error : thrownError(error.toJSON())
    }
  },
}

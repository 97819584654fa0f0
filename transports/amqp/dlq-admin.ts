import { z } from 'zod'
import { action, definePlugin } from '../../actions/index.js'
import type { DeadLetterFilter, DeadLetters } from './dead-letters.js'
import { openDeadLetters } from './dead-letters.js'

const SERVICE = z.string().regex(/^[a-z][a-z0-9-]*$/, 'must be a service name (lowercase kebab-case)')

/** The filter the actions take: error code, minimum age, ids, count. */
const filter = {
  service: SERVICE,
  code: z
    .string()
    .regex(/^[A-Z][A-Z_]*$/)
    .optional(),
  olderThanMs: z.number().int().min(0).optional(),
  ids: z.array(z.string().min(1)).max(1000).optional(),
  count: z.number().int().min(1).max(10_000).optional(),
}

/** The options of {@link dlqAdmin}. */
export const dlqAdminOptions = z.strictObject({
  /** The broker whose dead-letter queues the actions handle. */
  url: z.string().min(1).default('amqp://127.0.0.1:5672'),
  /** First segment of the queue names, as the services were served with. */
  prefix: z.string().min(1).default('stoa'),
})

/** The permission every `role:dlq` action requires (the authz plugin checks it). */
export const DLQ_PERMISSION = 'dlq:admin'

/**
 * The dead-letter queues as actions, for an admin page or another service: `role:dlq,cmd:list`,
 * `cmd:show`, `cmd:redrive` and `cmd:purge`, each requiring `dlq:admin`, doing what
 * `stoa dlq` does (see docs/deploy.md). Each call opens its own connection to the broker and
 * closes it; each letter redriven or purged is logged with who asked.
 *
 * @example
 * createStoa({ name: 'ops' }).use(authz, { roles: { admin: ['dlq:admin'] } }).use(dlqAdmin, { url, prefix: 'vote' })
 */
export const dlqAdmin = definePlugin({
  name: 'dlq',
  options: dlqAdminOptions,
  setup: (options, host) => {
    async function on<T>(service: string, run: (dlq: DeadLetters) => Promise<T>): Promise<T> {
      const dlq = await openDeadLetters({ url: options.url, prefix: options.prefix, service })
      try {
        return await run(dlq)
      } finally {
        await dlq.close()
      }
    }
    const selected = (m: {
      code?: string | undefined
      olderThanMs?: number | undefined
      ids?: string[] | undefined
      count?: number | undefined
    }): DeadLetterFilter => ({
      code: m.code,
      olderThanMs: m.olderThanMs,
      ids: m.ids,
      count: m.count,
    })
    return {
      actions: {
        'role:dlq,cmd:list': action({
          permission: DLQ_PERMISSION,
          description: "lists a service's dead letters: code, message, attempts, trace id, age",
          schema: z.object(filter),
          handler: (m) => on(m.service, (dlq) => dlq.list(selected(m))),
        }),
        'role:dlq,cmd:show': action({
          permission: DLQ_PERMISSION,
          description: 'shows one dead letter with its headers and body',
          schema: z.object({ service: SERVICE, id: z.string().min(1) }),
          handler: (m) => on(m.service, (dlq) => dlq.show(m.id)),
        }),
        'role:dlq,cmd:redrive': action({
          permission: DLQ_PERMISSION,
          description: 'publishes the selected dead letters back to their queues, tries reset',
          schema: z.object(filter),
          handler: (m, ctx) =>
            on(m.service, async (dlq) => {
              const { redriven } = await dlq.redrive(selected(m), ({ op, letter }) =>
                host.log.info(
                  {
                    op,
                    id: letter.id,
                    queue: letter.queue,
                    code: letter.code,
                    trace: letter.trace,
                    by: ctx.identity?.sub,
                  },
                  `dead letter ${letter.id} redriven to ${letter.queue}`,
                ),
              )
              return { redriven: redriven.map((l) => l.id) }
            }),
        }),
        'role:dlq,cmd:purge': action({
          permission: DLQ_PERMISSION,
          description: 'removes the selected dead letters for good',
          schema: z.object(filter),
          handler: (m, ctx) =>
            on(m.service, async (dlq) => {
              const { purged } = await dlq.purge(selected(m), ({ op, letter }) =>
                host.log.info(
                  {
                    op,
                    id: letter.id,
                    queue: dlq.queue,
                    code: letter.code,
                    trace: letter.trace,
                    by: ctx.identity?.sub,
                  },
                  `dead letter ${letter.id} purged`,
                ),
              )
              return { purged: purged.map((l) => l.id) }
            }),
        }),
      },
    }
  },
})

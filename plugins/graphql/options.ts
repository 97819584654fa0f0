import { z } from 'zod'

const fieldName = z.string().regex(/^[_A-Za-z][_0-9A-Za-z]*$/, 'a GraphQL name: letters, digits and _')
const operations = z.record(fieldName, z.string().min(1)).default({})

/** Options of the GraphQL plugin. */
export const graphqlOptions = z.strictObject({
  /** The web route (`POST`) of the endpoint, and the WebSocket path of its subscriptions. */
  path: z.string().startsWith('/').default('/graphql'),
  /** Query fields by name: the read action each one calls (`results: 'role:results,cmd:get'`). */
  queries: operations,
  /** Mutation fields by name: the command each one calls (`castVote: 'role:vote,cmd:cast'`). */
  mutations: operations,
  /**
   * Subscription fields by name: the event pattern each streams (`voteRecorded: 'vote.recorded'`),
   * or `{ event, open, map }` where `open` is an action run with the caller's identity before the
   * subscription starts (its refusal refuses it) and `map` an action each event goes through,
   * with the caller's identity, `{ event, data }` in: its result is sent (null skips the event)
   * and types the field (`resultsChanged: { event: 'vote.recorded', map: 'role:results,cmd:get' }`).
   * Served over WebSocket (graphql-ws) and server-sent events (graphql-sse) on `path`; every
   * instance hears every event, so a client connected to any gateway gets them all.
   */
  subscriptions: z
    .record(
      fieldName,
      z.union([
        z.string().min(1),
        z.strictObject({
          event: z.string().min(1),
          open: z.string().min(1).optional(),
          map: z.string().min(1).optional(),
        }),
      ]),
    )
    .default({}),
  /**
   * How subscriptions (and any operation) are served beside `POST`: `websocket` (graphql-ws, with
   * `ws` and `graphql-ws` installed) and `sse` (graphql-sse, installed): a `POST` with `Accept:
   * text/event-stream`. Each needs its packages only when there are subscriptions.
   */
  protocols: z.array(z.enum(['websocket', 'sse'])).default(['websocket', 'sse']),
  /** Origins besides the server's own whose pages may open the WebSocket or an event stream, and `POST` operations with CORS (`*` for any). */
  allowedOrigins: z.array(z.string()).default([]),
  /**
   * WebSockets and event streams this loading holds at most, together (as the web plugin's
   * `stream.maxConnections`); one more is answered 503 `OVERLOADED` with `Retry-After`.
   */
  maxConnections: z.number().int().positive().default(10_000),
  /** Events that may wait for a slow subscriber before its subscription is dropped. */
  maxQueuedEvents: z.number().int().positive().default(256),
  /** Bytes an event-stream client may have waiting unsent before it is dropped as too slow. */
  maxBufferedBytes: z.number().int().positive().default(1_048_576),
  /** Whether the schema answers introspection (`__schema`, `__type`). Off in production if you prefer. */
  introspection: z.boolean().default(true),
  /** How deeply selections may nest (the operation's top fields are depth 1). */
  maxDepth: z.number().int().positive().default(10),
  /** How many fields one document may select in all, fragments counted where they are spread. */
  maxCost: z.number().int().positive().default(1000),
  /** How many lexical tokens one document may hold: a huge query is refused before it is parsed whole. */
  maxTokens: z.number().int().positive().default(5000),
  /** Bodies over this size are refused with 413 `PAYLOAD_TOO_LARGE`. */
  maxBodyBytes: z.number().int().positive().default(65_536),
  /**
   * Take the identity token from the login cookie as well (as the web plugin's `cookie`): its
   * name, and the other origins allowed to send a state change with it. Absent: no cookie.
   */
  cookie: z
    .strictObject({
      name: z.string().min(1).default('stoa_token'),
      allowedOrigins: z.array(z.string()).default([]),
    })
    .optional(),
  /** Request headers (lowercase) passed on to the actions as `ctx.headers`. */
  headers: z.array(z.string().toLowerCase()).default(['user-agent', 'x-forwarded-for']),
})

/** Options of the GraphQL plugin as `use(graphql, options)` takes them. */
export type GraphqlOptions = z.input<typeof graphqlOptions>

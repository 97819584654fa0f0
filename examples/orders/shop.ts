import type { Stoa, StoaOptions } from 'stoa'
import { createStoa, StoaError } from 'stoa'
import type { PostgresOptions } from 'stoa/postgres'
import postgres from 'stoa/postgres'
import type { SagaEngine } from 'stoa/saga'
import sagas from 'stoa/saga'
import { z } from 'zod'

/** Which participant refuses its step, so that the compensation can be watched. */
export type Failing = 'payment' | 'shipping'

/** What every participant is built with: its database, and whether it refuses every call. */
export interface ParticipantOptions {
  /** The service's database: `{ url }` for PostgreSQL, `{ dataDir }` for PGlite (`memory://` keeps nothing). */
  readonly state: Omit<PostgresOptions, 'migrations'>
  /** Refuse every call of the participant's step (as `ORDERS_FAIL=payment` does). */
  readonly fail?: boolean
  /** The service's logger (default: JSON lines on stdout). */
  readonly logger?: StoaOptions['logger']
}

/**
 * The inventory service: stock per SKU and the reservations made against it, in its own
 * database. `reserve` and `release` are idempotent on the message id (the saga's
 * `<saga id>/<step>`), so a step called again after a crash changes nothing twice.
 */
export function inventoryService(options: ParticipantOptions): Stoa<any> {
  const stoa: Stoa<any> = createStoa({ name: 'inventory', ...logged(options) }).use(postgres, {
    ...options.state,
    migrations: [
      {
        version: 1,
        name: 'stock',
        sql: `CREATE TABLE stock (sku text PRIMARY KEY, available integer NOT NULL CHECK (available >= 0));
              CREATE TABLE reservations (id text PRIMARY KEY, order_id text NOT NULL, sku text NOT NULL,
                quantity integer NOT NULL, released boolean NOT NULL DEFAULT false);
              INSERT INTO stock (sku, available) VALUES ('book', 10), ('lamp', 3);`,
      },
    ],
  })
  const tx = stoa.handleOf(postgres).transaction
  stoa.add('role:inventory,cmd:reserve', {
    idempotent: true,
    schema: z.object({ orderId: z.string().min(1), sku: z.string().min(1), quantity: z.number().int().min(1) }),
    handler: (msg, ctx) =>
      tx(ctx, async (t) => {
        const taken = await t.query<{ available: number }>(
          'UPDATE stock SET available = available - $2 WHERE sku = $1 AND available >= $2 RETURNING available',
          [msg.sku, msg.quantity],
        )
        if (taken.rows.length === 0) throw new StoaError('INVALID_MESSAGE', `not enough ${msg.sku} in stock`)
        const id = `res-${msg.orderId}`
        await t.query('INSERT INTO reservations (id, order_id, sku, quantity) VALUES ($1, $2, $3, $4)', [
          id,
          msg.orderId,
          msg.sku,
          msg.quantity,
        ])
        return { reservation: id }
      }),
  })
  stoa.add('role:inventory,cmd:release', {
    idempotent: true,
    schema: z.object({ orderId: z.string().min(1) }),
    handler: (msg, ctx) =>
      tx(ctx, async (t) => {
        // By the order, not the reservation's id: the undo of a reserve whose answer was lost knows no id.
        const freed = await t.query<{ sku: string; quantity: number }>(
          'UPDATE reservations SET released = true WHERE order_id = $1 AND NOT released RETURNING sku, quantity',
          [msg.orderId],
        )
        for (const r of freed.rows) {
          await t.query('UPDATE stock SET available = available + $2 WHERE sku = $1', [r.sku, r.quantity])
        }
        return { released: freed.rows.length }
      }),
  })
  stoa.add('role:inventory,cmd:stock', {
    schema: z.object({ sku: z.string().min(1) }),
    handler: async (msg) => {
      const r = await stoa
        .handleOf(postgres)
        .db.query<{ available: number }>('SELECT available FROM stock WHERE sku = $1', [msg.sku])
      if (r.rows[0] === undefined) throw new StoaError('NOT_FOUND', `no SKU ${msg.sku}`)
      return { sku: msg.sku, available: r.rows[0].available }
    },
  })
  return stoa
}

/**
 * The payment service: one payment per order, `charged` then perhaps `refunded`. A declined
 * charge (the switch) is `INVALID_MESSAGE`: not retried, the saga compensates at once.
 */
export function paymentService(options: ParticipantOptions): Stoa<any> {
  const stoa: Stoa<any> = createStoa({ name: 'payment', ...logged(options) }).use(postgres, {
    ...options.state,
    migrations: [
      {
        version: 1,
        name: 'payments',
        sql: `CREATE TABLE payments (order_id text PRIMARY KEY, amount integer NOT NULL, state text NOT NULL);`,
      },
    ],
  })
  const tx = stoa.handleOf(postgres).transaction
  stoa.add('role:payment,cmd:charge', {
    idempotent: true,
    schema: z.object({ orderId: z.string().min(1), amount: z.number().int().min(1), decline: z.boolean().optional() }),
    handler: (msg, ctx) => {
      if (options.fail === true || msg.decline === true) {
        throw new StoaError('INVALID_MESSAGE', `card declined for order ${msg.orderId}`)
      }
      return tx(ctx, async (t) => {
        await t.query("INSERT INTO payments (order_id, amount, state) VALUES ($1, $2, 'charged')", [
          msg.orderId,
          msg.amount,
        ])
        return { payment: msg.orderId, amount: msg.amount }
      })
    },
  })
  stoa.add('role:payment,cmd:refund', {
    idempotent: true,
    schema: z.object({ orderId: z.string().min(1) }),
    handler: (msg, ctx) =>
      tx(ctx, async (t) => {
        const r = await t.query(
          "UPDATE payments SET state = 'refunded' WHERE order_id = $1 AND state = 'charged' RETURNING order_id",
          [msg.orderId],
        )
        return { refunded: r.rows.length }
      }),
  })
  stoa.add('role:payment,cmd:get', {
    schema: z.object({ orderId: z.string().min(1) }),
    handler: async (msg) => {
      const r = await stoa
        .handleOf(postgres)
        .db.query<{ amount: number; state: string }>('SELECT amount, state FROM payments WHERE order_id = $1', [
          msg.orderId,
        ])
      return r.rows[0] ?? null
    },
  })
  return stoa
}

/**
 * The shipping service: one shipment per order. Its failure (the switch) is `UNAVAILABLE`, the
 * carrier not answering: the saga retries it, then refunds and releases.
 */
export function shippingService(options: ParticipantOptions): Stoa<any> {
  const stoa: Stoa<any> = createStoa({ name: 'shipping', ...logged(options) }).use(postgres, {
    ...options.state,
    migrations: [
      {
        version: 1,
        name: 'shipments',
        sql: `CREATE TABLE shipments (order_id text PRIMARY KEY, sku text NOT NULL, state text NOT NULL);`,
      },
    ],
  })
  const tx = stoa.handleOf(postgres).transaction
  stoa.add('role:shipping,cmd:ship', {
    idempotent: true,
    schema: z.object({ orderId: z.string().min(1), sku: z.string().min(1), fail: z.boolean().optional() }),
    handler: (msg, ctx) => {
      if (options.fail === true || msg.fail === true) {
        throw new StoaError('UNAVAILABLE', `the carrier does not answer for order ${msg.orderId}`)
      }
      return tx(ctx, async (t) => {
        await t.query("INSERT INTO shipments (order_id, sku, state) VALUES ($1, $2, 'booked')", [msg.orderId, msg.sku])
        return { shipment: msg.orderId }
      })
    },
  })
  stoa.add('role:shipping,cmd:cancel', {
    idempotent: true,
    schema: z.object({ orderId: z.string().min(1) }),
    handler: (msg, ctx) =>
      tx(ctx, async (t) => {
        const r = await t.query(
          "UPDATE shipments SET state = 'cancelled' WHERE order_id = $1 AND state = 'booked' RETURNING order_id",
          [msg.orderId],
        )
        return { cancelled: r.rows.length }
      }),
  })
  stoa.add('role:shipping,cmd:get', {
    schema: z.object({ orderId: z.string().min(1) }),
    handler: async (msg) => {
      const r = await stoa
        .handleOf(postgres)
        .db.query<{ state: string }>('SELECT state FROM shipments WHERE order_id = $1', [msg.orderId])
      return r.rows[0] ?? null
    },
  })
  return stoa
}

/** An order as the checkout saga takes it. */
export const orderMessage = z.object({
  orderId: z.coerce.string().regex(/^[A-Za-z0-9_-]{1,40}$/),
  sku: z.string().min(1),
  quantity: z.number().int().min(1).max(100),
  amount: z.number().int().min(1),
  /** The switch as a message field: this participant refuses its step. */
  fail: z.enum(['payment', 'shipping']).optional(),
})

/** The order in a trigger, or `INVALID_MESSAGE` naming the failing fields: a bad order starts no saga. */
export function parseOrder(msg: unknown): z.infer<typeof orderMessage> {
  const got = orderMessage.safeParse(msg)
  if (got.success) return got.data
  throw new StoaError('INVALID_MESSAGE', 'not an order', {
    fields: got.error.issues.map((i) => i.path.join('.')),
  })
}

/**
 * The checkout service: the saga `role:checkout,cmd:place`, id `order:<orderId>`. It reserves
 * stock, charges, books the shipment; a failure undoes what was attempted in reverse order
 * (cancel the shipment, refund, release). It owns no table: its state is the saga engine's.
 */
export function checkoutService(options: {
  engine: SagaEngine
  retry?: { attempts?: number; backoffMs?: number }
  logger?: StoaOptions['logger']
}) {
  const stoa: Stoa<any> = createStoa({ name: 'checkout', ...logged(options) }).use(sagas, {
    engine: options.engine,
    ...(options.retry === undefined ? {} : { retry: options.retry }),
  })
  stoa.saga('role:checkout,cmd:place', {
    // The id is taken at the trigger, before the start: a bad order is refused there.
    id: (msg) => `order:${parseOrder(msg).orderId}`,
    version: 1,
    // What its steps and their undos call: a participant nothing reaches is said at start.
    acts: checkoutActs,
    async run(raw, saga) {
      const msg = parseOrder(raw)
      const order = { orderId: msg.orderId }
      const r = await saga.act(
        'reserve',
        { role: 'inventory', cmd: 'reserve', ...order, sku: msg.sku, quantity: msg.quantity },
        { undo: () => ({ role: 'inventory', cmd: 'release', ...order }) },
      )
      const p = await saga.act(
        'charge',
        { role: 'payment', cmd: 'charge', ...order, amount: msg.amount, decline: msg.fail === 'payment' },
        { undo: () => ({ role: 'payment', cmd: 'refund', ...order }) },
      )
      const s = await saga.act(
        'ship',
        { role: 'shipping', cmd: 'ship', ...order, sku: msg.sku, fail: msg.fail === 'shipping' },
        { undo: () => ({ role: 'shipping', cmd: 'cancel', ...order }) },
      )
      return { ...order, ...r, ...p, ...s }
    },
  })
  return stoa
}

/** The patterns the checkout saga's steps and their undos act on, in the order they run. */
export const checkoutActs = [
  'role:inventory,cmd:reserve',
  'role:payment,cmd:charge',
  'role:shipping,cmd:ship',
  'role:shipping,cmd:cancel',
  'role:payment,cmd:refund',
  'role:inventory,cmd:release',
] as const

/** The services checkout calls, each with the pattern of its actions. */
export const participants = { inventory: 'role:inventory', payment: 'role:payment', shipping: 'role:shipping' } as const

const logged = (o: { logger?: StoaOptions['logger'] }) => (o.logger === undefined ? {} : { logger: o.logger })

import type { Saga } from 'stoa'
import { definePlugin, defineService, StoaError } from 'stoa'
import type { PostgresHandle, PostgresOptions } from 'stoa/postgres'
import postgres from 'stoa/postgres'
import type { SagaOptions } from 'stoa/saga'
import sagas from 'stoa/saga'
import { z } from 'zod'

/** Which participant refuses its step, so that the compensation can be watched. */
export type Failing = 'payment' | 'shipping'

/** A participant's database: `{ url }` for PostgreSQL, `{ dataDir }` for PGlite (`memory://` keeps nothing). */
export type ParticipantState = Omit<PostgresOptions, 'migrations'>

/** The switch of a participant: refuse every call of its step (as `ORDERS_FAIL=payment` does). */
const failOptions = z.object({ fail: z.boolean().default(false) })

/** Each participant's tables: its own migrations, on its own database. */
export const MIGRATIONS = {
  inventory: {
    name: 'stock',
    sql: `CREATE TABLE stock (sku text PRIMARY KEY, available integer NOT NULL CHECK (available >= 0));
          CREATE TABLE reservations (id text PRIMARY KEY, order_id text NOT NULL, sku text NOT NULL,
            quantity integer NOT NULL, released boolean NOT NULL DEFAULT false);
          INSERT INTO stock (sku, available) VALUES ('book', 10), ('lamp', 3);`,
  },
  payment: {
    name: 'payments',
    sql: 'CREATE TABLE payments (order_id text PRIMARY KEY, amount integer NOT NULL, state text NOT NULL);',
  },
  shipping: {
    name: 'shipments',
    sql: 'CREATE TABLE shipments (order_id text PRIMARY KEY, sku text NOT NULL, state text NOT NULL);',
  },
} as const

/** The postgres plugin's handle, taken at start: what a participant's actions write through. */
function database(): {
  init: (stoa: { handleOf: (p: typeof postgres) => PostgresHandle }) => void
  get: () => PostgresHandle
} {
  let db: PostgresHandle | undefined
  return {
    init: (stoa) => {
      db = stoa.handleOf(postgres)
    },
    get: () => {
      if (db === undefined) throw new StoaError('UNAVAILABLE', 'the database is not open yet')
      return db
    },
  }
}

/**
 * The inventory: stock per SKU and the reservations made against it, in the postgres plugin's
 * database (load it first, with {@link MIGRATIONS}`.inventory`). `reserve` and `release` are
 * idempotent on the message id (the saga's `<saga id>/<step>`), so a step called again after a
 * crash changes nothing twice.
 */
export const inventory = definePlugin({
  name: 'inventory',
  dependencies: ['postgres'],
  setup: () => {
    const db = database()
    return {
      init: db.init,
      actions: {
        'role:inventory,cmd:reserve': {
          idempotent: true,
          schema: z.object({ orderId: z.string().min(1), sku: z.string().min(1), quantity: z.number().int().min(1) }),
          handler: (msg, ctx) =>
            db.get().transaction(ctx, async (t) => {
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
        },
        'role:inventory,cmd:release': {
          idempotent: true,
          schema: z.object({ orderId: z.string().min(1) }),
          handler: (msg, ctx) =>
            db.get().transaction(ctx, async (t) => {
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
        },
        'role:inventory,cmd:stock': {
          schema: z.object({ sku: z.string().min(1) }),
          handler: async (msg) => {
            const r = await db
              .get()
              .db.query<{ available: number }>('SELECT available FROM stock WHERE sku = $1', [msg.sku])
            if (r.rows[0] === undefined) throw new StoaError('NOT_FOUND', `no SKU ${msg.sku}`)
            return { sku: msg.sku, available: r.rows[0].available }
          },
        },
      },
    }
  },
})

/**
 * The payment: one payment per order, `charged` then perhaps `refunded`. A declined charge (the
 * switch `fail`, or the message's `decline`) is `INVALID_MESSAGE`: not retried, the saga
 * compensates at once.
 */
export const payment = definePlugin({
  name: 'payment',
  dependencies: ['postgres'],
  options: failOptions,
  setup: (options) => {
    const db = database()
    return {
      init: db.init,
      actions: {
        'role:payment,cmd:charge': {
          idempotent: true,
          schema: z.object({
            orderId: z.string().min(1),
            amount: z.number().int().min(1),
            decline: z.boolean().optional(),
          }),
          handler: (msg, ctx) => {
            if (options.fail || msg.decline === true) {
              throw new StoaError('INVALID_MESSAGE', `card declined for order ${msg.orderId}`)
            }
            return db.get().transaction(ctx, async (t) => {
              await t.query("INSERT INTO payments (order_id, amount, state) VALUES ($1, $2, 'charged')", [
                msg.orderId,
                msg.amount,
              ])
              return { payment: msg.orderId, amount: msg.amount }
            })
          },
        },
        'role:payment,cmd:refund': {
          idempotent: true,
          schema: z.object({ orderId: z.string().min(1) }),
          handler: (msg, ctx) =>
            db.get().transaction(ctx, async (t) => {
              const r = await t.query(
                "UPDATE payments SET state = 'refunded' WHERE order_id = $1 AND state = 'charged' RETURNING order_id",
                [msg.orderId],
              )
              return { refunded: r.rows.length }
            }),
        },
        'role:payment,cmd:get': {
          schema: z.object({ orderId: z.string().min(1) }),
          handler: async (msg) => {
            const r = await db
              .get()
              .db.query<{ amount: number; state: string }>('SELECT amount, state FROM payments WHERE order_id = $1', [
                msg.orderId,
              ])
            return r.rows[0] ?? null
          },
        },
      },
    }
  },
})

/**
 * The shipping: one shipment per order. Its failure (the switch `fail`, or the message's `fail`)
 * is `UNAVAILABLE`, the carrier not answering: the saga retries it, then refunds and releases.
 */
export const shipping = definePlugin({
  name: 'shipping',
  dependencies: ['postgres'],
  options: failOptions,
  setup: (options) => {
    const db = database()
    return {
      init: db.init,
      actions: {
        'role:shipping,cmd:ship': {
          idempotent: true,
          schema: z.object({ orderId: z.string().min(1), sku: z.string().min(1), fail: z.boolean().optional() }),
          handler: (msg, ctx) => {
            if (options.fail || msg.fail === true) {
              throw new StoaError('UNAVAILABLE', `the carrier does not answer for order ${msg.orderId}`)
            }
            return db.get().transaction(ctx, async (t) => {
              await t.query("INSERT INTO shipments (order_id, sku, state) VALUES ($1, $2, 'booked')", [
                msg.orderId,
                msg.sku,
              ])
              return { shipment: msg.orderId }
            })
          },
        },
        'role:shipping,cmd:cancel': {
          idempotent: true,
          schema: z.object({ orderId: z.string().min(1) }),
          handler: (msg, ctx) =>
            db.get().transaction(ctx, async (t) => {
              const r = await t.query(
                "UPDATE shipments SET state = 'cancelled' WHERE order_id = $1 AND state = 'booked' RETURNING order_id",
                [msg.orderId],
              )
              return { cancelled: r.rows.length }
            }),
        },
        'role:shipping,cmd:get': {
          schema: z.object({ orderId: z.string().min(1) }),
          handler: async (msg) => {
            const r = await db
              .get()
              .db.query<{ state: string }>('SELECT state FROM shipments WHERE order_id = $1', [msg.orderId])
            return r.rows[0] ?? null
          },
        },
      },
    }
  },
})

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

/**
 * The checkout: the saga `role:checkout,cmd:place`, id `order:<orderId>`, declared by the
 * plugin. It reserves stock, charges, books the shipment; a failure undoes what was attempted
 * in reverse order (cancel the shipment, refund, release). It owns no table: its state is the
 * saga engine's (load the saga plugin, `stoa/saga`, beside it).
 */
export const checkout = definePlugin({
  name: 'checkout',
  sagas: {
    'role:checkout,cmd:place': {
      // The id is taken at the trigger, before the start: a bad order is refused there.
      id: (msg) => `order:${parseOrder(msg).orderId}`,
      version: 1,
      // What its steps and their undos call: a participant nothing reaches is said at start.
      acts: checkoutActs,
      async run(raw, saga: Saga) {
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
    },
  },
})

/** The services checkout calls, with the patterns each answers (`defineService({ clients })`). */
export const checkoutClients = {
  inventory: [participants.inventory],
  payment: [participants.payment],
  shipping: [participants.shipping],
}

/** The postgres plugin's options for `state` holding the tables of `names`, each its own migration. */
const tables = (state: ParticipantState, ...names: (keyof typeof MIGRATIONS)[]): PostgresOptions => ({
  ...state,
  migrations: names.map((name, i) => ({ version: i + 1, ...MIGRATIONS[name] })),
})

/** The inventory service's plugins: its database with its tables, and the inventory. */
export const inventoryPlugins = (state: ParticipantState) =>
  [[postgres, tables(state, 'inventory')], inventory] as const

/** The payment service's plugins; `fail` declines every charge. */
export const paymentPlugins = (state: ParticipantState, fail = false) =>
  [
    [postgres, tables(state, 'payment')],
    [payment, { fail }],
  ] as const

/** The shipping service's plugins; `fail` makes the carrier never answer. */
export const shippingPlugins = (state: ParticipantState, fail = false) =>
  [
    [postgres, tables(state, 'shipping')],
    [shipping, { fail }],
  ] as const

/** The checkout service's plugins: the saga plugin with `saga` (its engine, retries), then the checkout. */
export const checkoutPlugins = (saga: SagaOptions) => [[sagas, saga], checkout] as const

/**
 * The whole shop in one instance (services/shop.ts): the three participants' tables in one
 * database, the saga on the in-memory engine, every step an in-process call.
 */
export const shopPlugins = (state: ParticipantState, fail?: Failing) =>
  [
    [postgres, tables(state, 'inventory', 'payment', 'shipping')],
    inventory,
    [payment, { fail: fail === 'payment' }],
    [shipping, { fail: fail === 'shipping' }],
    [sagas, {}],
    checkout,
  ] as const

/** The inventory service on its own database. */
export const inventoryService = (state: ParticipantState) =>
  defineService({ name: 'inventory', plugins: inventoryPlugins(state) })

/** The payment service on its own database. */
export const paymentService = (state: ParticipantState, fail = false) =>
  defineService({ name: 'payment', plugins: paymentPlugins(state, fail) })

/** The shipping service on its own database. */
export const shippingService = (state: ParticipantState, fail = false) =>
  defineService({ name: 'shipping', plugins: shippingPlugins(state, fail) })

/** The checkout service: the saga plugin on `saga` (its engine, retries), the checkout, and its clients. */
export const checkoutService = (saga: SagaOptions) =>
  defineService({ name: 'checkout', clients: checkoutClients, plugins: checkoutPlugins(saga) })

import { access, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { PGlite } from '@electric-sql/pglite'
import type { Client, Pool } from 'pg'
import { StoaError } from '../../actions/index.js'
import { loadPeer } from '../../actions/transport.js'
import { isConnectionError } from './errors.js'

/** Something SQL runs on: the database, or one transaction of it. */
export interface Sql {
  /** Runs one statement with `$1`-style parameters. */
  query<R extends Record<string, unknown> = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
  ): Promise<{ rows: R[] }>
  /** Runs several statements without parameters (a migration step). */
  exec(text: string): Promise<void>
}

/** How busy the connections are: `pg`'s pool, or PGlite's one connection. */
export interface PoolStats {
  readonly total: number
  readonly idle: number
  readonly waiting: number
}

/**
 * One service's database, whatever runs it: PostgreSQL through `pg`, or PGlite (PostgreSQL
 * compiled to WebAssembly) in a directory. The same SQL runs on both.
 */
export interface Database extends Sql {
  readonly kind: 'postgres' | 'pglite'
  /** Where it is, for messages: the URL without its password, or the PGlite directory. */
  readonly where: string
  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back when it rejects.
   * `edges.first` is one statement run right after `BEGIN`, its rows given to `fn`;
   * `edges.last()` the statements run right before `COMMIT`: on PostgreSQL they go with `BEGIN`
   * or `COMMIT` in one write and one round trip (the inbox's key and result cost no round trip of
   * their own), and a named statement is parsed and planned once per connection.
   */
  transaction<T>(fn: (tx: Sql, first: Record<string, unknown>[]) => Promise<T>, edges?: TransactionEdges): Promise<T>
  /** Why the database cannot be reached now, or undefined while it can. */
  outage(): string | undefined
  /** Tells `fn` when the database goes away (with the reason) and when it is back (undefined). */
  onChange(fn: (down: string | undefined) => void): void
  /** Calls `fn` with the payload of every `NOTIFY` on `channel` (PostgreSQL; in PGlite the process wakes itself). */
  listen(channel: string, fn: (payload: string) => void): Promise<void>
  pool(): PoolStats
  close(): Promise<void>
}

/**
 * One statement of a transaction's edges. `text` without `values` may hold several statements
 * (sent as one simple query); with `values`, it is one statement with `$1`-style parameters, and
 * a `name` has PostgreSQL keep its plan for the connection (a fixed text per name; prepared
 * statement names, which no other statement of the plugin's connections may take, nor
 * `stoa_begin` and `stoa_commit`). The values are strings or null.
 */
export interface Statement {
  readonly name?: string
  readonly text: string
  readonly values?: readonly (string | null)[]
}

/** Statements a transaction runs right after it begins and right before it commits. */
export interface TransactionEdges {
  readonly first?: Statement
  readonly last?: () => readonly Statement[]
}

/** What a database is made with. */
export interface DatabaseSettings {
  readonly poolSize: number
  readonly connectTimeoutMs: number
  /** How often a lost database is tried again, ms. */
  readonly probeMs: number
}

/**
 * A database on PostgreSQL. `pg` is loaded here, so a service on PGlite never needs it. The
 * first connection is made now: a database that cannot be reached fails the start with
 * `UNAVAILABLE`. Later, a connection failure marks the database down (every call fails fast
 * with `UNAVAILABLE`) and it is tried every `probeMs` until it answers.
 */
export async function openPostgres(url: string, settings: DatabaseSettings): Promise<Database> {
  const pg = await loadPeer<typeof import('pg')>('pg', 'stoa/postgres')
  const {
    Pool: PoolClass,
    Client: ClientClass,
    Query: QueryClass,
  } = (pg as unknown as { default?: typeof pg }).default ?? pg
  const where = redact(url)
  const pool: Pool = new PoolClass({
    connectionString: url,
    max: settings.poolSize,
    // A database that stops answering (a host gone, not refusing) must not hold a connect forever.
    connectionTimeoutMillis: settings.connectTimeoutMs,
    keepAlive: true,
    // Queries given to one client before the previous answered are sent at once, answered in
    // order: how an edge's statement with values and no name shares the round trip of the
    // transaction's BEGIN or COMMIT (see runEdge). Every other statement is awaited before the
    // next, so nothing else changes.
    pipeline: true,
  })
  // An idle client losing its connection (PostgreSQL restarted) must not end the process.
  pool.on('error', () => undefined)
  try {
    const c = await pool.connect()
    c.release()
  } catch (err) {
    await pool.end().catch(() => undefined)
    throw new StoaError(
      'UNAVAILABLE',
      `PostgreSQL at ${where} cannot be reached: ${(err as Error).message}`,
      undefined,
      {
        cause: err,
      },
    )
  }
  let down: string | undefined
  let probe: NodeJS.Timeout | undefined
  let closed = false
  const watchers: ((down: string | undefined) => void)[] = []
  const tell = (state: string | undefined) => {
    for (const w of watchers) w(state)
  }
  const unreachable = (cause?: unknown) =>
    new StoaError('UNAVAILABLE', `PostgreSQL at ${where} is unreachable`, { database: where }, { cause })
  const lost = (err: unknown): StoaError => {
    if (closed) return unreachable(err)
    if (down === undefined) {
      down = `PostgreSQL at ${where} is unreachable: ${(err as Error)?.message ?? String(err)}`
      tell(down)
    }
    probe ??= setInterval(() => {
      pool.query('SELECT 1').then(
        () => {
          if (probe === undefined) return
          clearInterval(probe)
          probe = undefined
          down = undefined
          tell(undefined)
        },
        () => undefined,
      )
    }, settings.probeMs).unref()
    return unreachable(err)
  }
  const guard = async <T>(p: Promise<T>): Promise<T> => {
    try {
      return await p
    } catch (err) {
      throw isConnectionError(err) ? lost(err) : err
    }
  }
  // LISTEN needs a connection of its own, held open: made again whenever the database is back.
  const channels = new Map<string, ((payload: string) => void)[]>()
  let listener: Client | undefined
  const connectListener = async (): Promise<void> => {
    if (closed || channels.size === 0 || listener !== undefined) return
    const c: Client = new ClientClass({ connectionString: url, connectionTimeoutMillis: settings.connectTimeoutMs })
    listener = c
    const drop = () => {
      if (listener !== c) return
      listener = undefined
      c.end().catch(() => undefined)
    }
    c.on('error', drop)
    c.on('end', drop)
    c.on('notification', (n) => {
      for (const fn of channels.get(n.channel) ?? []) fn(n.payload ?? '')
    })
    try {
      await c.connect()
      for (const ch of channels.keys()) await c.query(`LISTEN ${quoteIdent(ch)}`)
      // Whatever was notified while nobody listened is found now.
      for (const fns of channels.values()) for (const fn of fns) fn('')
    } catch {
      drop()
    }
  }
  watchers.push((state) => {
    if (state === undefined) void connectListener()
  })
  const relisten = setInterval(() => void connectListener(), Math.max(settings.probeMs, 1000)).unref()
  return {
    kind: 'postgres',
    where,
    query: async (text, params) => rowsOf(await guard(pool.query(text, params as unknown[]))),
    exec: async (text) => void (await guard(pool.query(text))),
    async transaction(fn, edges) {
      if (down !== undefined) throw unreachable()
      const client = await guard(pool.connect())
      // A checked-out client has no listener of the pool's: without this one, the connection
      // dropping mid-transaction is an unhandled 'error' event, which ends the process.
      let broken: unknown
      const onError = (err: unknown) => {
        broken ??= err
      }
      client.on('error', onError)
      // The names this connection has prepared; a failed edge that prepared some leaves them
      // unknown, and the connection is then not reused.
      const known = prepared.get(client) ?? new Set<string>()
      prepared.set(client, known)
      let unsure = false
      const edge = async (sts: readonly Statement[]) => {
        try {
          return await runEdge(client, known, sts, QueryClass)
        } catch (err) {
          unsure ||= (err as { preparing?: boolean }).preparing === true
          throw err
        }
      }
      try {
        let first: Record<string, unknown>[] = []
        if (edges?.first === undefined) await client.query('BEGIN')
        else first = await edge([BEGIN, edges.first])
        const out = await fn(
          {
            query: async (text, params) => rowsOf(await client.query(text, params as unknown[])),
            exec: async (text) => void (await client.query(text)),
          },
          first,
        )
        // A failing statement aborts the transaction, and the COMMIT behind it does not commit:
        // the statement's rejection is what fails the call (and the transaction is rolled back).
        await edge([...(edges?.last?.() ?? []), COMMIT])
        return out
      } catch (err) {
        if (broken !== undefined || isConnectionError(err)) {
          broken ??= err
          // Whether a COMMIT in flight took effect is unknown: the caller tries again, and an
          // idempotent participant (the inbox) makes a second try harmless.
          throw lost(err)
        }
        await client.query('ROLLBACK').catch(() => undefined)
        throw err
      } finally {
        client.off('error', onError)
        // A broken client is dropped from the pool rather than handed out again, and so is one
        // whose prepared names are unknown.
        if (broken === undefined && unsure) broken = new Error('the prepared statements of this connection are unknown')
        client.release(broken === undefined ? undefined : (broken as Error))
      }
    },
    outage: () => down,
    onChange: (fn) => void watchers.push(fn),
    async listen(channel, fn) {
      const list = channels.get(channel) ?? []
      list.push(fn)
      channels.set(channel, list)
      if (listener !== undefined) await listener.query(`LISTEN ${quoteIdent(channel)}`).catch(() => undefined)
      else await connectListener()
    },
    pool: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    async close() {
      closed = true
      clearInterval(relisten)
      if (probe !== undefined) clearInterval(probe)
      probe = undefined
      const l = listener
      listener = undefined
      if (l !== undefined) await l.end().catch(() => undefined)
      await pool.end()
    },
  }
}

/**
 * A freshly initialised PGlite cluster, taken once per process: initdb is most of the time a new
 * database takes to open (seconds), and every fresh cluster is the same, so the second and later
 * new databases of a process start from this copy instead.
 */
let freshCluster: Promise<Blob | undefined> | undefined

/** Whether `dataDir` holds no cluster yet (`memory://` never does). */
async function isFresh(dataDir: string): Promise<boolean> {
  if (dataDir.includes('://')) return dataDir.startsWith('memory://')
  return access(join(dataDir, 'PG_VERSION')).then(
    () => false,
    () => true,
  )
}

async function createPglite(PGliteClass: typeof PGlite, dataDir: string): Promise<PGlite> {
  if (!(await isFresh(dataDir))) return PGliteClass.create(dataDir)
  const template = freshCluster === undefined ? undefined : await freshCluster
  if (template !== undefined) return PGliteClass.create(dataDir, { loadDataDir: template })
  const db = await PGliteClass.create(dataDir)
  // Taken before anything runs on it, so the copy is the bare cluster initdb made.
  freshCluster ??= db.dumpDataDir('none').then(
    (dump) => dump,
    () => undefined,
  )
  await freshCluster
  return db
}

/**
 * A database on PGlite keeping its data in `dataDir` (created when missing; `memory://` keeps
 * nothing), so what was committed survives the process. `@electric-sql/pglite` is loaded here,
 * so a service on PostgreSQL never needs it. One PGlite runs one statement at a time:
 * transactions queue, and it does not go away while the process lives.
 */
export async function openPglite(dataDir: string): Promise<Database> {
  const { PGlite: PGliteClass } = await loadPeer<typeof import('@electric-sql/pglite')>(
    '@electric-sql/pglite',
    'stoa/postgres',
  )
  // PGlite makes the directory itself but not its parents (`.stoa/<service>` on a fresh clone).
  if (!dataDir.includes('://')) await mkdir(dataDir, { recursive: true })
  const db: PGlite = await createPglite(PGliteClass, dataDir)
  return onPglite(db, dataDir, () => db.close())
}

/** The statements of a PGlite (or one of its transactions) the plugin runs. */
interface PgliteStatements {
  query<T>(text: string, params?: any[]): Promise<{ rows: T[] }>
  exec(text: string): Promise<readonly { rows: any[] }[]>
}

/**
 * A PGlite opened by its owner (a test that shares one database between instances, an app
 * that made its own with extensions): what the postgres plugin's `pglite` option takes. The
 * plugin never closes it.
 */
export interface OpenPglite extends PgliteStatements {
  transaction<T>(fn: (tx: PgliteStatements) => Promise<T>): Promise<T>
}

/** The plugin's database over an open PGlite; `close` is what closing it does. */
export function onPglite(db: OpenPglite, where: string, close: () => Promise<void>): Database {
  let waiting = 0
  let busy = false
  const counted = async <T>(work: () => Promise<T>): Promise<T> => {
    waiting++
    try {
      return await work()
    } finally {
      waiting--
    }
  }
  return {
    kind: 'pglite',
    where,
    query: async (text, params) => rowsOf(await db.query(text, params as unknown[])),
    exec: async (text) => void (await db.exec(text)),
    transaction: (fn, edges) =>
      counted(() =>
        db.transaction(async (tx) => {
          busy = true
          try {
            const run = async (st: Statement) =>
              st.values === undefined
                ? ((await tx.exec(st.text)).at(-1)?.rows ?? [])
                : (await tx.query(st.text, [...st.values])).rows
            const first = edges?.first === undefined ? [] : await run(edges.first)
            const out = await fn(
              {
                query: async (text, params) => rowsOf(await tx.query(text, params as unknown[])),
                exec: async (text) => void (await tx.exec(text)),
              },
              first as Record<string, unknown>[],
            )
            for (const st of edges?.last?.() ?? []) await run(st)
            return out
          } finally {
            busy = false
          }
        }),
      ),
    outage: () => undefined,
    onChange: () => undefined,
    listen: async () => undefined,
    pool: () => ({ total: 1, idle: busy ? 0 : 1, waiting: Math.max(0, waiting - (busy ? 1 : 0)) }),
    close,
  }
}

const BEGIN: Statement = { text: 'BEGIN' }
const COMMIT: Statement = { text: 'COMMIT' }
/** The names `BEGIN` and `COMMIT` are prepared by on a connection, for an edge in the extended protocol. */
const BEGIN_NAME = 'stoa_begin'
const COMMIT_NAME = 'stoa_commit'

/** The names each pooled connection has prepared, which live as long as it. */
const prepared = new WeakMap<object, Set<string>>()

/**
 * Runs the statements of a transaction's edge (`BEGIN` and what follows it, or what precedes
 * `COMMIT` and the `COMMIT`) in one round trip. An edge of named statements (the inbox's) goes
 * in the extended protocol behind one `Sync` (see {@link runExtendedEdge}); any other as one
 * simple query: one message each way, one answer to wait for.
 * There a named statement goes as SQL `EXECUTE` with its values quoted, and its `PREPARE` in front
 * the first time on the connection (a prepared statement outlives a rolled-back transaction),
 * so that it is parsed and planned once per connection; a statement with values and no name,
 * which cannot be written so, is pipelined after the others, before a `COMMIT` of its own.
 * Against one extended-protocol message per statement, this spares the server and the driver a
 * message cycle per statement. Resolves with the rows of the edge's last statement (but a
 * `COMMIT` of its own). A failure that may have left a name prepared carries `preparing: true`.
 */
async function runEdge(
  client: Client,
  known: Set<string>,
  sts: readonly Statement[],
  QueryClass: QueryConstructor,
): Promise<Record<string, unknown>[]> {
  if (isExtendedEdge(sts)) return runExtendedEdge(client, known, sts, QueryClass)
  const texts: string[] = []
  const loose: Statement[] = []
  const names: string[] = []
  for (const st of sts) {
    if (st.values === undefined) texts.push(st.text)
    else if (st.name === undefined) loose.push(st)
    else {
      if (!known.has(st.name) && !names.includes(st.name)) {
        texts.push(`PREPARE ${quoteIdent(st.name)} AS ${st.text}`)
        names.push(st.name)
      }
      let text = executeOf(st.name)
      for (let i = 0; i < st.values.length; i++) {
        const v = st.values[i]!
        text += `${i === 0 ? '(' : ', '}${v === null ? 'NULL' : quoteLiteral(v)}`
      }
      texts.push(st.values.length > 0 ? `${text})` : text)
    }
  }
  // Loose statements go after the others, and a COMMIT then after them.
  const commit = loose.length > 0 && sts.at(-1) === COMMIT
  if (commit) texts.pop()
  try {
    const sent = [
      ...(texts.length === 0 ? [] : [client.query(texts.join('; '))]),
      ...loose.map((st) => client.query(pgQuery(st))),
      ...(commit ? [client.query('COMMIT')] : []),
    ]
    // Pipelined, when more than one: one round trip; Promise.all waits on each, so no failure goes unseen.
    const results = (await Promise.all(sent)) as unknown[]
    for (const name of names) known.add(name)
    const res = results[results.length - (commit ? 2 : 1)]
    // Several statements in one simple query answer with one result each.
    return ((Array.isArray(res) ? res.at(-1) : res) as { rows?: Record<string, unknown>[] } | undefined)?.rows ?? []
  } catch (err) {
    if (names.length > 0 && typeof err === 'object' && err !== null) Object.assign(err, { preparing: true })
    throw err
  }
}

/** What `pg` exports as `Query`: the messages of one query and the handling of its answers. */
type QueryConstructor = typeof import('pg').Query

/** The part of `pg`'s connection an edge writes its messages with. */
interface Wire {
  readonly stream: { cork?: () => void; uncork?: () => void }
  parse(config: { name?: string; text: string; types: never[] }): void
  bind(config: { portal: string; statement: string; values: readonly (string | null)[] }): void
  describe(config: { type: 'P'; name: string }): void
  execute(config: { portal: string }): void
  sync(): void
}

/** Whether an edge is `BEGIN`, `COMMIT` and named statements only, with at least one of those. */
function isExtendedEdge(sts: readonly Statement[]): boolean {
  let named = false
  for (const st of sts) {
    if (st === BEGIN || st === COMMIT) continue
    if (st.name === undefined || st.values === undefined) return false
    named = true
  }
  return named
}

/**
 * An edge of `BEGIN`, `COMMIT` and named statements in the extended protocol, every message in
 * one write and one `Sync` behind them: one round trip, as the simple query, but the server
 * neither parses an `EXECUTE` with its values as literals nor runs it through a portal of its own
 * (a third of what an edge statement cost it), and the values travel as parameters, unquoted.
 * A name new to the connection is parsed first, once. Resolves with the rows of the last statement.
 */
function runExtendedEdge(
  client: Client,
  known: Set<string>,
  sts: readonly Statement[],
  QueryClass: QueryConstructor,
): Promise<Record<string, unknown>[]> {
  const names: string[] = []
  return new Promise((resolve, reject) => {
    const query = new QueryClass('')
    const q = query as unknown as {
      callback: (err: Error | undefined, res: unknown) => void
      submit: (wire: Wire) => null
    }
    q.callback = (err, res) => {
      if (err !== undefined && err !== null) {
        if (names.length > 0 && typeof err === 'object') Object.assign(err, { preparing: true })
        reject(err)
        return
      }
      for (const name of names) known.add(name)
      const last = (Array.isArray(res) ? res.at(-1) : res) as { rows?: Record<string, unknown>[] } | undefined
      resolve(last?.rows ?? [])
    }
    q.submit = (wire) => {
      wire.stream.cork?.()
      try {
        for (const st of sts) {
          // BEGIN and COMMIT are named too, so that they are not parsed on every call either.
          const name = st === BEGIN ? BEGIN_NAME : st === COMMIT ? COMMIT_NAME : st.name!
          if (!known.has(name) && !names.includes(name)) {
            wire.parse({ name, text: st.text, types: [] })
            names.push(name)
          }
          wire.bind({ portal: '', statement: name, values: st.values ?? [] })
          // Described, so that rows come with their columns (BEGIN and COMMIT have none).
          if (st.values !== undefined) wire.describe({ type: 'P', name: '' })
          wire.execute({ portal: '' })
        }
        wire.sync()
      } finally {
        wire.stream.uncork?.()
      }
      return null
    }
    client.query(query)
  })
}

/** `EXECUTE "name"` by statement name, quoted once: names are a fixed few, and an edge runs on every call. */
const executes = new Map<string, string>()

function executeOf(name: string): string {
  let text = executes.get(name)
  if (text === undefined) {
    text = `EXECUTE ${quoteIdent(name)}`
    executes.set(name, text)
  }
  return text
}

/** A statement as pg takes it: a named one is parsed once per connection. */
function pgQuery(st: Statement): { name?: string; text: string; values?: (string | null)[] } {
  if (st.values === undefined) return { text: st.text }
  return st.name === undefined
    ? { text: st.text, values: [...st.values] }
    : { name: st.name, text: st.text, values: [...st.values] }
}

/**
 * A statement's rows, and nothing of the driver's result (pg's holds its type parsers): what
 * an action returns from `tx.query` is then its reply, and an idempotent action's stored result.
 */
function rowsOf<R>(result: { rows: unknown[] }): { rows: R[] } {
  return { rows: result.rows as R[] }
}

/** A connection string without its password, for messages and logs. */
export function redact(url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return '(unparsable database URL)'
  }
}

/**
 * A string as an SQL literal, for the few statements sent without parameters (beside `BEGIN`
 * or `COMMIT`, in one round trip): dollar-quoted with a tag the text does not hold, so that no
 * character of it (a quote, a backslash) means anything, whatever `standard_conforming_strings`
 * says. NUL cannot be in a PostgreSQL text at all.
 */
export function quoteLiteral(text: string): string {
  if (text.includes('\0')) throw new StoaError('INVALID_MESSAGE', 'a key or result cannot hold a NUL character')
  // Without a `$` no tag can be in the text nor end where it meets the closing one.
  if (!text.includes('$')) return `$s0$${text}$s0$`
  // The closing tag must be found first where it is put, not earlier (nor overlapping the text's end).
  let n = 0
  while (`${text}$s${n}$`.indexOf(`$s${n}$`) !== text.length) n++
  return `$s${n}$${text}$s${n}$`
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

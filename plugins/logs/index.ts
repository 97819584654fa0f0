/**
 * Logs: stoa's logger as pino, and the logs plugin, which writes one line per call with its
 * trace id, message id, pattern, service, duration and outcome. Tokens, cookies,
 * `Authorization` headers and the secret fields named in the options are redacted.
 *
 * @module stoa/logs
 */

import { performance } from 'node:perf_hooks'
import type { ActionInfo, Context, Hooks, Logger, Message, RunAction } from '../../actions/index.js'
import { definePlugin, eventLoopTurn, runNext, StoaError } from '../../actions/index.js'
import { requirePeer } from '../../actions/transport.js'
import type { PinoLoggerOptions } from './options.js'
import { logsOptions, pinoLoggerOptions } from './options.js'

export type { LogsOptions, PinoLevel, PinoLoggerOptions } from './options.js'
export { LOG_LEVELS, logOptionsFromEnvironment } from './options.js'

/** What is always redacted: identity tokens, cookies and Authorization headers, where stoa puts them. */
const REDACTED = ['token', 'authorization', 'cookie', 'set-cookie', 'password', 'secret']

/** The text that replaces a redacted value. */
export const CENSOR = '[redacted]'

/** Redaction paths for a field name: at the top and at the next two levels (`headers.cookie`, `req.headers.cookie`). */
function pathsFor(field: string): string[] {
  const key = /^[A-Za-z_$][\w$]*$/.test(field) ? field : `["${field}"]`
  const dot = key.startsWith('[') ? '' : '.'
  return [key, `*${dot}${key}`, `*.*${dot}${key}`]
}

/**
 * A pino logger for stoa: JSON lines (or pino-pretty's readable lines with `pretty`), at
 * `level`, with `service` on every line and secrets redacted. Pass it as `createStoa({ logger })`;
 * `stoa serve` makes one from `LOG_LEVEL`, `--pretty` and the terminal.
 *
 * @example
 * const logger = createPinoLogger({ level: 'info', service: 'tally', secrets: ['apiKey'] })
 * const stoa = createStoa({ name: 'tally', logger })
 */
export function createPinoLogger(
  options: PinoLoggerOptions = {},
): Logger & { level: string; isLevelEnabled(level: string): boolean } {
  const result = pinoLoggerOptions.safeParse(options)
  if (!result.success) {
    const issue = result.error.issues[0]!
    throw new StoaError('INVALID_OPTIONS', `pino logger: option "${issue.path.join('.')}": ${issue.message}`, {
      fields: result.error.issues.map((i) => i.path.join('.')),
    })
  }
  const o = result.data
  // Loaded here, not at import: a service that brings its own logger never loads pino.
  const pino = requirePeer<typeof import('pino')>('pino', 'stoa/logs')
  const paths = [...new Set([...REDACTED, ...o.secrets])].flatMap(pathsFor)
  const destination = o.destination ?? process.stderr
  let stream: unknown = destination
  if (o.pretty) {
    // pino-pretty's formatter alone, applied line by line on the way out: synchronous, and any
    // object with write() can be the destination (a command's stderr, a test's collector).
    const { prettyFactory } = requirePeer<{
      prettyFactory: (opts: Record<string, unknown>) => (line: string) => string
    }>('pino-pretty', 'stoa/logs')
    const prettify = prettyFactory({ colorize: (destination as { isTTY?: boolean }).isTTY === true })
    stream = { write: (line: string) => destination.write(prettify(line)) }
  }
  return pino.pino(
    {
      level: o.level,
      base: o.service === undefined ? null : { service: o.service },
      redact: { paths, censor: CENSOR },
    },
    stream as never,
  ) as never
}

/** pino's numbers for its levels; a line at `silent` is never written. */
const LEVEL_VALUES: Readonly<Record<string, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Number.NEGATIVE_INFINITY,
}

/**
 * The logger's threshold as a pino level number, read once per turn of the event loop (its
 * level may change while it runs; a change is seen from the next turn). A pino logger's
 * `levelVal` costs less than `isLevelEnabled`; another logger is asked for `info`-and-up with
 * its own `isLevelEnabled` if it has one, else writes everything.
 */
function threshold(state: LogsState): number {
  const turn = eventLoopTurn()
  if (turn !== state.turn) {
    state.turn = turn
    state.threshold = readThreshold(state.log)
  }
  return state.threshold
}

function readThreshold(log: Logger): number {
  const min = (log as { levelVal?: unknown }).levelVal
  if (typeof min === 'number') return min
  const check = (log as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled
  if (typeof check !== 'function') return 0
  for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal'])
    if (check.call(log, level)) return LEVEL_VALUES[level]!
  return Number.POSITIVE_INFINITY
}

function kindOf(action: ActionInfo): 'act' | 'task' | 'event' {
  if (typeof action.pattern.task === 'string') return 'task'
  if (action.key.startsWith('event:') && Object.keys(action.pattern).length === 1) return 'event'
  return 'act'
}

/** Writes at `level` on a stoa logger (whose four methods are error, warn, info, debug). */
function writer(log: Logger, level: string): ((fields: Record<string, unknown>, msg: string) => void) | undefined {
  if (level === 'silent') return undefined
  const fn = (log as unknown as Record<string, unknown>)[level]
  if (typeof fn === 'function')
    return (fields, msg) => (fn as (f: Record<string, unknown>, m: string) => void).call(log, fields, msg)
  // A logger with only stoa's four levels: trace goes to debug, fatal to error.
  const near = level === 'trace' ? log.debug : log.error
  return (fields, msg) => near.call(log, fields, msg)
}

/** The logger and service name of one loading of the plugin. */
interface LogsState {
  readonly log: Logger
  readonly service: string
  /** The turn of the event loop {@link threshold} was read in, and what it read. */
  turn: number
  threshold: number
}

/** Writes a call's line. A function of its own, not a closure made per call. */
function writeLine(
  state: LogsState,
  log: Logger,
  level: string,
  pattern: string,
  kind: string,
  ctx: Context,
  start: number,
  outcome: string,
): void {
  const fields: Record<string, unknown> = {
    service: state.service,
    pattern,
    kind,
    id: ctx.id,
    trace: ctx.trace,
    outcome,
  }
  if (!Number.isNaN(start)) fields.durationMs = Math.round((performance.now() - start) * 1000) / 1000
  writer(log, level)?.(fields, `${kind} ${outcome}`)
}

function outcomeOf(err: unknown): string {
  return err instanceof StoaError ? err.code : 'ACTION_FAILED'
}

function inbound(state: LogsState, callLevel: string, failureLevel: string): NonNullable<Hooks['inbound']> {
  const okLevel = LEVEL_VALUES[callLevel]!
  const failLevel = LEVEL_VALUES[failureLevel]!
  return (next: RunAction, action: ActionInfo): RunAction => {
    const pattern = action.key
    const kind = kindOf(action)
    // Made once per action. `start` is NaN exactly when success lines are off.
    const ok = (out: unknown, _msg: Message, ctx: Context, start: number): unknown => {
      if (!Number.isNaN(start)) writeLine(state, state.log, callLevel, pattern, kind, ctx, start, 'ok')
      return out
    }
    const failed = (err: unknown, _msg: Message, ctx: Context, start: number): never => {
      if (failLevel >= threshold(state))
        writeLine(state, state.log, failureLevel, pattern, kind, ctx, start, outcomeOf(err))
      throw err
    }
    return (msg: Message, ctx: Context) => {
      const min = threshold(state)
      const okOn = okLevel >= min
      // Nothing will be written either way: no clock read, no fields built.
      if (!okOn && failLevel < min) return next(msg, ctx)
      // A clock read costs about as much as a small action: only when success lines are on
      // (then every line has durationMs); failure lines alone leave the durations to metrics.
      return runNext(next, msg, ctx, okOn ? performance.now() : Number.NaN, ok, failed)
    }
  }
}

/**
 * The logs plugin: one line per call handled here, on the instance's logger, with `service`,
 * `pattern`, `kind`, `id`, `trace`, `durationMs` and `outcome` (`ok` or the error code).
 * Successes at `callLevel` (debug by default), failures at `failureLevel` (warn). The message
 * itself is never logged.
 *
 * @example
 * const stoa = createStoa({ name: 'tally', logger: createPinoLogger({ level: 'debug' }) }).use(logs)
 */
const logs = definePlugin({
  name: 'logs',
  options: logsOptions,
  setup: (options, host) => ({
    hooks: {
      inbound: inbound(
        { log: host.log, service: host.name, turn: -1, threshold: 0 },
        options.callLevel,
        options.failureLevel,
      ),
    },
  }),
})

export default logs

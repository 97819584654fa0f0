import type { JsonSchema } from './json-schema.js'
import type { Contract, ContractChannel } from './model.js'

/** One difference between a saved contract and the code. */
export interface ContractChange {
  /** `breaking`: a caller written against the saved contract may fail; `addition`: none can. */
  readonly kind: 'breaking' | 'addition'
  readonly service: string
  /** What changed, in a line: `action "cmd:cast,role:vote" message: "voter" became required`. */
  readonly text: string
}

/** The outcome of {@link compareContracts}. */
export interface ContractCheck {
  readonly changes: readonly ContractChange[]
  /** The breaking changes not covered by a version bump: the check fails when there is one. */
  readonly failures: readonly ContractChange[]
}

/**
 * Compares the contracts in the code with saved ones. Breaking: a service, action, route,
 * handled task or emitted event removed (a rename is a removal and an addition); a route
 * given another action or status; a message (or handled task's data) field that became
 * required, a type narrowed there (fewer types or enum values, tighter bounds, a new pattern
 * or format, a schema where there was none); a result (or emitted event's data) field removed
 * or made optional, a type widened there. Additions pass. A service whose declared version
 * went up a major (a minor below 1.0.0) may break its saved contract: its changes are listed,
 * not failed.
 *
 * @example
 * const saved = [await describeContract(stoa)]
 * const { failures } = compareContracts(saved, [await describeContract(gateway)])
 * for (const f of failures) console.error(f.text)
 */
export function compareContracts(saved: readonly Contract[], current: readonly Contract[]): ContractCheck {
  const changes: ContractChange[] = []
  const failures: ContractChange[] = []
  for (const old of saved) {
    const now = current.find((c) => c.service === old.service)
    if (now === undefined) {
      changes.push({ kind: 'breaking', service: old.service, text: `service "${old.service}" is gone` })
      failures.push(changes.at(-1)!)
      continue
    }
    const found = compareService(old, now)
    changes.push(...found)
    if (!bumped(old.version, now.version)) failures.push(...found.filter((c) => c.kind === 'breaking'))
  }
  for (const now of current)
    if (!saved.some((c) => c.service === now.service))
      changes.push({ kind: 'addition', service: now.service, text: `service "${now.service}" is new` })
  return { changes, failures }
}

function compareService(old: Contract, now: Contract): ContractChange[] {
  const out: ContractChange[] = []
  const breaking = (text: string) => out.push({ kind: 'breaking', service: old.service, text })
  const addition = (text: string) => out.push({ kind: 'addition', service: old.service, text })

  for (const a of old.actions) {
    const b = now.actions.find((x) => x.pattern === a.pattern)
    const what = `action "${a.pattern}"`
    if (b === undefined) {
      breaking(`${what} was removed`)
      continue
    }
    for (const r of restrictions(a.message, b.message)) breaking(`${what} message: ${r}`)
    for (const r of restrictions(b.result, a.result, true)) breaking(`${what} result: ${r}`)
    if (b.permission !== a.permission && b.permission !== null)
      breaking(`${what} now requires permission "${b.permission}"`)
    if (a.public && !b.public) breaking(`${what} is no longer public`)
  }
  for (const b of now.actions)
    if (!old.actions.some((a) => a.pattern === b.pattern)) addition(`action "${b.pattern}" is new`)

  for (const r of old.routes) {
    const at = `route ${r.method} ${r.path}`
    const n = now.routes.find((x) => x.method === r.method && x.path === r.path)
    if (n === undefined) breaking(`${at} was removed`)
    else if (n.pattern !== r.pattern) breaking(`${at} now runs "${n.pattern}" instead of "${r.pattern}"`)
    else if (n.status !== r.status) breaking(`${at} now answers ${n.status} instead of ${r.status}`)
  }
  for (const n of now.routes)
    if (!old.routes.some((r) => r.method === n.method && r.path === n.path))
      addition(`route ${n.method} ${n.path} is new`)

  channels(old.tasks.handles, now.tasks.handles, 'task', false, breaking, addition)
  channels(old.events.emits, now.events.emits, 'event', true, breaking, addition)
  return out
}

function channels(
  old: readonly ContractChannel[],
  now: readonly ContractChannel[],
  kind: 'task' | 'event',
  outgoing: boolean,
  breaking: (text: string) => void,
  addition: (text: string) => void,
): void {
  const verb = kind === 'task' ? 'handled' : 'emitted'
  for (const a of old) {
    const b = now.find((x) => x.name === a.name)
    const what = `${kind} "${a.name}"`
    if (b === undefined) breaking(`${what} is no longer ${verb}`)
    else {
      const found = outgoing ? restrictions(b.payload, a.payload, true) : restrictions(a.payload, b.payload)
      for (const r of found) breaking(`${what} data: ${r}`)
    }
  }
  for (const b of now) if (!old.some((a) => a.name === b.name)) addition(`${kind} "${b.name}" is now ${verb}`)
}

/**
 * The ways schema `b` accepts less than schema `a` (null: anything), as lines naming the field.
 * With `asResult` the wording is the reader's: what `a` (the old result) promised and `b`
 * (here the new result, passed first) no longer does.
 */
function restrictions(a: JsonSchema | null, b: JsonSchema | null, asResult = false, path = ''): string[] {
  const at = path === '' ? 'the value' : `"${path}"`
  if (b === null || isAny(b)) return []
  if (a === null || isAny(a)) return [asResult ? `${at} is no longer declared` : `${at} now has a schema`]
  const out: string[] = []
  const ta = types(a)
  const tb = types(b)
  if (ta !== undefined && tb !== undefined) {
    const lost = [...ta].filter((t) => !tb.has(t) && !(t === 'integer' && tb.has('number')))
    if (lost.length > 0) out.push(`${at} ${asResult ? 'may now be' : 'no longer accepts'} ${lost.join(', ')}`)
  } else if (ta === undefined && tb !== undefined && a.enum === undefined && a.const === undefined) {
    out.push(`${at} ${asResult ? 'may now be other than' : 'must now be'} ${[...tb].join(' or ')}`)
  }
  const ea = values(a)
  const eb = values(b)
  if (eb !== undefined) {
    const lost = ea === undefined ? ['(any)'] : ea.filter((v) => !eb.some((w) => same(v, w)))
    if (lost.length > 0)
      out.push(
        `${at} ${asResult ? 'may now be' : 'no longer accepts'} ${lost.map((v) => JSON.stringify(v)).join(', ')}`,
      )
  }
  for (const [k, tighter] of [
    ['minimum', 1],
    ['exclusiveMinimum', 1],
    ['minLength', 1],
    ['minItems', 1],
    ['maximum', -1],
    ['exclusiveMaximum', -1],
    ['maxLength', -1],
    ['maxItems', -1],
  ] as const) {
    const x = a[k] as number | undefined
    const y = b[k] as number | undefined
    if (typeof y === 'number' && (x === undefined || (y - x) * tighter > 0))
      out.push(`${at} ${k} ${asResult ? 'was' : 'is now'} ${asResult ? (x ?? 'none') : y}`)
  }
  for (const k of ['pattern', 'format'] as const)
    if (b[k] !== undefined && b[k] !== a[k])
      out.push(`${at} ${k} ${asResult ? 'was' : 'is now'} ${JSON.stringify(asResult ? (a[k] ?? null) : b[k])}`)
  const pa = (a.properties ?? {}) as Record<string, JsonSchema>
  const pb = (b.properties ?? {}) as Record<string, JsonSchema>
  const ra = new Set((a.required ?? []) as string[])
  const rb = new Set((b.required ?? []) as string[])
  for (const k of rb) {
    if (ra.has(k)) continue
    const field = path === '' ? k : `${path}.${k}`
    if (!asResult) out.push(`"${field}" became required`)
    else out.push(Object.hasOwn(pa, k) ? `"${field}" may now be missing` : `"${field}" was removed`)
  }
  for (const [k, sb] of Object.entries(pb)) {
    const field = path === '' ? k : `${path}.${k}`
    if (!Object.hasOwn(pa, k)) {
      // A result field gone: named once (above when it was required). A message field new to
      // the schema is an addition, unless required, which is named above.
      if (asResult && !rb.has(k)) out.push(`"${field}" was removed`)
      continue
    }
    out.push(...restrictions(pa[k] ?? null, sb, asResult, field))
  }
  if (!asResult && b.additionalProperties === false) {
    for (const k of Object.keys(pa))
      if (!Object.hasOwn(pb, k)) out.push(`"${path === '' ? k : `${path}.${k}`}" is no longer accepted`)
  }
  if (a.items !== undefined || b.items !== undefined)
    out.push(...restrictions((a.items as JsonSchema) ?? null, (b.items as JsonSchema) ?? null, asResult, `${path}[]`))
  for (const k of ['anyOf', 'oneOf', 'allOf'] as const)
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k]) && b[k] !== undefined) out.push(`${at} ${k} changed`)
  return out
}

function isAny(s: JsonSchema): boolean {
  return Object.keys(s).filter((k) => k !== 'description' && k !== 'title' && k !== 'default').length === 0
}

function types(s: JsonSchema): Set<string> | undefined {
  if (typeof s.type === 'string') return new Set([s.type])
  if (Array.isArray(s.type)) return new Set(s.type as string[])
  return undefined
}

function values(s: JsonSchema): unknown[] | undefined {
  if (Array.isArray(s.enum)) return s.enum
  if (Object.hasOwn(s, 'const')) return [s.const]
  return undefined
}

function same(x: unknown, y: unknown): boolean {
  return JSON.stringify(x) === JSON.stringify(y)
}

/** Whether the declared version went up a major (a minor, below 1.0.0): the service said it breaks. */
export function bumped(old: string | null, now: string | null): boolean {
  const a = semver(old)
  const b = semver(now)
  if (a === undefined || b === undefined) return false
  if (a[0] === 0 && b[0] === 0) return b[1] > a[1]
  return b[0] > a[0]
}

function semver(v: string | null): [number, number, number] | undefined {
  const m = v === null ? null : /^(\d+)\.(\d+)\.(\d+)/.exec(v)
  return m === null ? undefined : [Number(m[1]), Number(m[2]), Number(m[3])]
}

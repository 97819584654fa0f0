import { StoaError } from '../../actions/index.js'

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** A saga's duration in ms: a number of ms, or amounts with units (`'10m'`, `'1h30m'`, `'3d'`). */
export function sagaDurationMs(duration: unknown): number {
  if (typeof duration === 'number' && Number.isFinite(duration) && duration >= 0) return duration
  if (typeof duration === 'string' && /^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(duration)) {
    let total = 0
    for (const [, amount, , unit] of duration.matchAll(/(\d+(\.\d+)?)(ms|s|m|h|d)/g))
      total += Number(amount) * UNIT_MS[unit!]!
    return total
  }
  throw new StoaError(
    'INVALID_OPTIONS',
    `"${String(duration)}" is no duration: a number of ms, or like "250ms", "10m", "3d"`,
  )
}

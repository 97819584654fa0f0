/** Resolves when `check()` returns true; rejects after `timeoutMs` naming what was awaited. */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** Lets queued deliveries land before asserting that nothing more arrived. */
export function settle(ms = 150): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** A logger that keeps entries instead of printing them. */
export function quietLogger() {
  const entries: { level: string; fields: Record<string, unknown>; message: string }[] = []
  const at = (level: string) => (fields: Record<string, unknown>, message: string) => {
    entries.push({ level, fields, message })
  }
  return { entries, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') }
}

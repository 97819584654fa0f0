/**
 * The kernel's one environment fallback: whether results are checked against their action's
 * `result` schema when `createStoa` is not told. On in development and tests, where a wrong
 * result should fail loudly and name its field; off when `NODE_ENV` is `production`, where the
 * check would cost every call a validation of what the code already promises.
 */
export function resultChecksDefault(): boolean {
  return process.env.NODE_ENV !== 'production'
}

import { rmSync } from 'node:fs'
import { dirname } from 'node:path'
import { pack } from '../../bench/install/kit.js'

let packed: string | undefined

/**
 * The stoa tarball as `npm pack` makes it, packed once per test run and shared by every test
 * that installs it (dist/ is built by `npm run test:e2e`); removed when the run exits.
 *
 * @example
 * const tarball = packedTarball()
 */
export function packedTarball(): string {
  if (packed === undefined) {
    const file = pack()
    packed = file
    process.once('exit', () => rmSync(dirname(file), { recursive: true, force: true }))
  }
  return packed
}

import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/**
 * stoa as the http suite's servers and clients run it: the built library in dist/, what users
 * run, as the lambda and cli suites do (`npm run bench` builds it first). The bench's own files
 * go through tsx; stoa's code does not, so no compiler helper (tsx's `__name`) is measured.
 */
const dist = (path: string) => new URL(`../../dist/${path}`, import.meta.url)
if (!existsSync(fileURLToPath(dist('plugins/web/index.js'))))
  throw new Error('the http suite runs the built library: run `npm run build` first')

const kernel = (await import(dist('actions/index.js').href)) as typeof import('../../actions/index.js')
const webPlugin = (await import(dist('plugins/web/index.js').href)) as typeof import('../../plugins/web/index.js')
const httpTransport = (await import(
  dist('transports/http/index.js').href
)) as typeof import('../../transports/http/index.js')

export const { action, createStoa } = kernel
export const web = webPlugin.default
export const { mountWeb, serveWeb } = webPlugin
export const { createHttpTransport } = httpTransport

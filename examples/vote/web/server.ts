import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Request, Response } from 'express'
import type { Stoa } from 'stoa'
import { StoaError } from 'stoa'
import { errorResponse, listenOn, sendResponse, serverCloser } from 'stoa/transport'
import { mountWeb, upgradeWeb } from 'stoa/web'

/**
 * No inline script or style, nothing from elsewhere: the pages load their own files and talk
 * to their own origin only.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ')

const ASSETS: Readonly<Record<string, string>> = {
  'vote.js': 'text/javascript; charset=utf-8',
  'api.js': 'text/javascript; charset=utf-8',
  'results.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
}

/** A running gateway web server. */
export interface GatewayServer {
  readonly url: string
  close(): Promise<void>
}

/**
 * Serves the gateway: the voting page at `/`, the results page at `/results`, the API routes of
 * the instance's web plugin under `/api`, `/api/results/stream` among them: each `vote.recorded`
 * as a server-sent event, on whichever gateway instance the page is connected to.
 *
 * @example
 * const server = await serveGateway(gateway, { port: 3000 })
 */
export async function serveGateway(
  stoa: Stoa<any>,
  options: { host?: string; port?: number } = {},
): Promise<GatewayServer> {
  const express = (await import('express')).default
  const pages = pagesDir()
  const app = express()
  app.disable('x-powered-by')
  app.set('etag', false)
  app.use((_req: Request, res: Response, next: () => void) => {
    res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY)
    res.setHeader('x-content-type-options', 'nosniff')
    res.setHeader('referrer-policy', 'no-referrer')
    next()
  })
  const page = (file: string) => async (_req: Request, res: Response) => {
    res.setHeader('content-type', 'text/html; charset=utf-8')
    res.setHeader('cache-control', 'no-cache')
    res.end(await readFile(pages + file))
  }
  app.get('/', page('vote.html'))
  app.get('/results', page('results.html'))
  // Browsers ask for it unprompted; an empty answer beats a 404 in every page's console.
  app.get('/favicon.ico', (_req: Request, res: Response) => void res.status(204).end())
  app.get('/assets/:file', async (req: Request, res: Response) => {
    const file = String(req.params.file)
    const type = Object.hasOwn(ASSETS, file) ? ASSETS[file] : undefined
    if (type === undefined) return void res.status(404).end()
    res.setHeader('content-type', type)
    res.setHeader('cache-control', 'no-cache')
    res.end(await readFile(pages + file))
  })
  // The API routes, `/api/results/stream` among them: the web plugin's stream of vote.recorded.
  await mountWeb(stoa, app)
  // The contracts plugin's reference page (/docs, its script and stylesheet), when loaded.
  const { endpoints } = stoa.httpParts()
  for (const [path, handler] of Object.entries(endpoints))
    app.get(path, (req: Request, res: Response) => handler(req, res))
  // What nothing took gets the answer stoa's own routes give: the same JSON error shape.
  app.use((_req: Request, res: Response) =>
    sendResponse(res, errorResponse(new StoaError('NOT_FOUND', 'no such page'))),
  )
  const server = createServer(app)
  // WebSocket upgrades: the stream routes' sockets and the GraphQL subscriptions (graphql-ws).
  const sockets = await upgradeWeb(stoa, server)
  const at = await listenOn(server, options.port ?? 0, options.host ?? '127.0.0.1')
  // stoa's close policy: stop listening, drop idle connections, give answers in progress (the
  // open event streams among them) the kit's grace, then close what is left.
  const closer = serverCloser(server)
  return {
    url: `http://${at}`,
    close: () => {
      sockets.close()
      return closer.close()
    },
  }
}

/** The pages' directory: beside this file, or in the source tree when this runs compiled. */
function pagesDir(): string {
  const here = fileURLToPath(new URL('./pages/', import.meta.url))
  if (existsSync(here)) return here
  return here.replace(`${sep}dist${sep}examples${sep}`, `${sep}examples${sep}`)
}

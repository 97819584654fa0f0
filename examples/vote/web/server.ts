import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import type { ServerResponse } from 'node:http'
import { createServer } from 'node:http'
import { sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Request, Response } from 'express'
import type { NodeMiddleware, Stoa } from 'stoa'
import { definePlugin, StoaError } from 'stoa'
import { errorResponse, listenOn, sendResponse, serverCloser, webRoutes } from 'stoa/transport'
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

/**
 * The gateway's pages as a plugin: `/` (voting), `/results`, `/assets/<file>` and an empty
 * `/favicon.ico`, and the security headers above on every answer of the server, the API's
 * included. It serves through the plugins' HTTP parts, so `stoa serve --web` puts it in front
 * of the web plugin's routes as it does any plugin's, and {@link serveGateway} mounts it the
 * same way.
 */
export const votePages = definePlugin({
  name: 'vote-pages',
  setup: () => ({ http: { web: () => pagesMiddleware(pagesDir()) } }),
})

/** The middleware of {@link votePages}: answers the page paths on GET and HEAD, passes on the rest. */
function pagesMiddleware(pages: string): NodeMiddleware {
  const file = (res: ServerResponse, name: string, type: string) => {
    res.setHeader('content-type', type)
    res.setHeader('cache-control', 'no-cache')
    readFile(pages + name).then(
      (body) => res.end(body),
      () => sendResponse(res, errorResponse(new StoaError('NOT_FOUND', 'no such page'))),
    )
  }
  return (req, res, next) => {
    res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY)
    res.setHeader('x-content-type-options', 'nosniff')
    res.setHeader('referrer-policy', 'no-referrer')
    if (req.method !== 'GET' && req.method !== 'HEAD') return next()
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q < 0 ? url : url.slice(0, q)
    if (path === '/') return file(res, 'vote.html', HTML)
    if (path === '/results') return file(res, 'results.html', HTML)
    // Browsers ask for it unprompted; an empty answer beats a 404 in every page's console.
    if (path === '/favicon.ico') {
      res.statusCode = 204
      return void res.end()
    }
    if (path.startsWith('/assets/')) {
      const name = path.slice('/assets/'.length)
      const type = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined
      if (type === undefined) return sendResponse(res, errorResponse(new StoaError('NOT_FOUND', 'no such page')))
      return file(res, name, type)
    }
    next()
  }
}

const HTML = 'text/html; charset=utf-8'

/** A running gateway web server. */
export interface GatewayServer {
  readonly url: string
  close(): Promise<void>
}

/**
 * Serves the gateway on express, for a main of its own (the embedded demo): what every plugin
 * serves over HTTP ({@link votePages} among them, when loaded: the voting page at `/`, the
 * results page at `/results`), then the API routes of the instance's web plugin under `/api`,
 * `/api/results/stream` among them: each `vote.recorded` as a server-sent event, on whichever
 * gateway instance the page is connected to. `stoa serve --web` serves the same.
 *
 * @example
 * const server = await serveGateway(gateway, { port: 3000 })
 */
export async function serveGateway(
  stoa: Stoa<any>,
  options: { host?: string; port?: number } = {},
): Promise<GatewayServer> {
  const express = (await import('express')).default
  const app = express()
  app.disable('x-powered-by')
  app.set('etag', false)
  const { endpoints, web } = stoa.httpParts()
  const routes = web.length === 0 ? [] : await webRoutes(stoa)
  for (const make of web) app.use(make(routes))
  // The API routes, `/api/results/stream` among them: the web plugin's stream of vote.recorded.
  await mountWeb(stoa, app)
  // The contracts plugin's reference page (/docs, its script and stylesheet), when loaded.
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

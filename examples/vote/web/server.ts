import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import type { ServerResponse } from 'node:http'
import { createServer } from 'node:http'
import { sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Request, Response } from 'express'
import type { Stoa } from 'stoa'
import { StoaError } from 'stoa'
import { errorResponse, listenOn, sendResponse, serverCloser } from 'stoa/transport'
import { mountWeb } from 'stoa/web'

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
 * the instance's web plugin under `/api`, and `/api/results/stream`, the results as server-sent
 * events while they change.
 *
 * @example
 * const server = await serveGateway(gateway, { port: 3000 })
 */
export async function serveGateway(
  stoa: Stoa<any>,
  options: { host?: string; port?: number; pollMs?: number } = {},
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
  const feed = new ResultsFeed(stoa, options.pollMs ?? 500)
  app.get('/api/results/stream', (req: Request, res: Response) => feed.subscribe(req, res))
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
  const at = await listenOn(server, options.port ?? 0, options.host ?? '127.0.0.1')
  // stoa's close policy: stop listening, drop idle connections, give answers in progress the
  // kit's grace. The event streams are ended first, so none holds the server open.
  const closer = serverCloser(server)
  return {
    url: `http://${at}`,
    close: async () => {
      feed.close()
      await closer.close()
    },
  }
}

/**
 * The results as a stream of server-sent events. While at least one page listens, it asks
 * `role:results,cmd:get` every `pollMs` and sends the counts when they changed. Polling the
 * results service rather than listening to `vote.recorded` keeps it right with N gateways: an
 * event reaches one instance of a service, a page may be connected to any.
 */
class ResultsFeed {
  private readonly clients = new Set<ServerResponse>()
  private timer: NodeJS.Timeout | undefined
  private last = ''
  private busy = false

  constructor(
    private readonly stoa: Stoa<any>,
    private readonly pollMs: number,
  ) {}

  subscribe(req: Request, res: Response): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    })
    res.write('retry: 2000\n\n')
    if (this.last !== '') res.write(`data: ${this.last}\n\n`)
    this.clients.add(res)
    req.on('close', () => {
      this.clients.delete(res)
      if (this.clients.size === 0) this.stop()
    })
    this.timer ??= setInterval(() => void this.poll(), this.pollMs)
    void this.poll()
  }

  close(): void {
    this.stop()
    for (const res of this.clients) res.end()
    this.clients.clear()
  }

  private stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }

  private async poll(): Promise<void> {
    if (this.busy) return
    this.busy = true
    try {
      const text = JSON.stringify(await this.stoa.act('role:results,cmd:get', {}, { timeoutMs: 5000 }))
      if (text !== this.last) {
        this.last = text
        for (const res of this.clients) res.write(`data: ${text}\n\n`)
      }
    } catch {
      // The results service is away for now: the pages keep their last counts; try again.
    } finally {
      this.busy = false
    }
  }
}

/** The pages' directory: beside this file, or in the source tree when this runs compiled. */
function pagesDir(): string {
  const here = fileURLToPath(new URL('./pages/', import.meta.url))
  if (existsSync(here)) return here
  return here.replace(`${sep}dist${sep}examples${sep}`, `${sep}examples${sep}`)
}

import type { IncomingMessage, ServerResponse } from 'node:http'
import type { PluginHost, Stoa } from '../../actions/index.js'
import { definePlugin, patternString, StoaError, toPattern } from '../../actions/index.js'
import type { ServedRoute } from '../../actions/transport.js'
import { routeTableAction } from '../../actions/transport.js'
import { toAsyncApi } from './asyncapi.js'
import type { Contract } from './model.js'
import { describeContract } from './model.js'
import { toOpenApi } from './openapi.js'
import { contractsOptions } from './options.js'
import { DOCS_CSP, REFERENCE_CSS, REFERENCE_JS, referenceHtml } from './page.js'

const OPENAPI = 'role:contracts,cmd:openapi'
const ASYNCAPI = 'role:contracts,cmd:asyncapi'

/**
 * The contracts plugin: serves the service's own documents. It adds `role:contracts,cmd:openapi`
 * and `role:contracts,cmd:asyncapi` (public), puts `GET /openapi.json` and `GET /asyncapi.json`
 * on the web plugin's routes (so every web front serves them: `serveWeb`, `mountWeb`, API
 * Gateway), and gives the reference page `GET /docs` (with its script and stylesheet, under a
 * strict Content-Security-Policy, nothing from another origin) as HTTP endpoints, which
 * `stoa serve` mounts on its servers and an express app mounts with `handleOf(contracts).docs`.
 * The documents are made once, on the first request, from the started instance.
 *
 * @example
 * const stoa = createStoa({ name: 'math' })
 *   .use(math)
 *   .use(web, { routes: { 'GET /sum': 'role:math,cmd:sum' } })
 *   .use(contracts)
 * const server = await serveWeb(stoa) // GET /openapi.json, GET /asyncapi.json
 */
const contracts = definePlugin({
  name: 'contracts',
  options: contractsOptions,
  setup: (options) => {
    let host: Stoa<any> | undefined
    let made: Promise<Contract[]> | undefined
    const contractsNow = (): Promise<Contract[]> => {
      if (host === undefined) return Promise.reject(new StoaError('UNAVAILABLE', 'the service has not started'))
      made ??= describeContract(host).then((own) => [own, ...(options.with as unknown as Contract[])])
      // A failure is not kept: the next request tries again.
      made.catch(() => {
        made = undefined
      })
      return made
    }
    const openapi = async () => toOpenApi(await contractsNow(), { title: options.title })
    const asyncapi = async () => toAsyncApi(await contractsNow(), { prefix: options.prefix, title: options.title })
    const base = options.docsPath
    const send = (res: ServerResponse, type: string, body: string) => {
      res.writeHead(200, {
        'content-type': type,
        'content-length': Buffer.byteLength(body),
        'content-security-policy': DOCS_CSP,
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-cache',
      })
      res.end(body)
    }
    const page = referenceHtml(base, options.openapiPath)
    const docs: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
      [base]: (_req, res) => send(res, 'text/html; charset=utf-8', page),
      [`${base}/reference.js`]: (_req, res) => send(res, 'text/javascript; charset=utf-8', REFERENCE_JS),
      [`${base}/reference.css`]: (_req, res) => send(res, 'text/css; charset=utf-8', REFERENCE_CSS),
    }
    return {
      actions: {
        [OPENAPI]: { public: true, description: "the service's OpenAPI 3.1 document", handler: openapi },
        [ASYNCAPI]: { public: true, description: "the service's AsyncAPI 3 document", handler: asyncapi },
      },
      init: (stoa: PluginHost) => {
        // The host a plugin starts on is the instance itself; what describes it is its public API.
        host = stoa as unknown as Stoa<any>
        if (options.web) {
          stoa.add(
            'role:web,cmd:routes',
            routeTableAction([route(options.openapiPath, OPENAPI), route(options.asyncapiPath, ASYNCAPI)]),
          )
        }
      },
      http: { endpoints: options.page ? docs : {} },
      handle: { docs, openapi, asyncapi },
    }
  },
})

function route(path: string, pattern: string): ServedRoute {
  return Object.freeze({
    method: 'GET',
    path,
    pattern: patternString(toPattern(pattern)),
    status: 200,
    plugin: 'contracts',
    maxBodyBytes: 1024,
    headers: [],
    message: 'flat',
  })
}

export default contracts

import { serveWeb } from '../../plugins/web/index.js'
import { edgeService } from './service.js'

/**
 * One server of the edge suite, in its own process: `server.ts <open|limited|graphql>` serves
 * the suite's service (service.ts) on node:http. Prints `{"url": ...}` once listening.
 */
const stoa = await edgeService(process.argv[2]!)
const server = await serveWeb(stoa)
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`)

import { resolve } from 'node:path'
import type { Stoa } from 'stoa'
import { createHttpTransport } from 'stoa/http'
import { createMemoryBus, createMemoryTransport } from 'stoa/memory'
import { fromEnvironment } from './config.js'
import { handover, redrive } from './handover.js'
import { authService } from './services/auth.js'
import { gatewayService } from './services/gateway.js'
import { resultsService } from './services/results.js'
import { tallyService } from './services/tally.js'
import { createPgliteStore } from './store/db.js'
import { sharedStore } from './store/shared.js'
import { serveGateway } from './web/server.js'

/** Hand-overs whose handler failed are sent again after this long, ms. */
const REDRIVE_MS = 5000

/**
 * The vote system embedded: auth, the vote gateway, the tally worker and results in one
 * process on the memory transport, with PGlite in a data directory as the database (the same
 * SQL and migrations as PostgreSQL). A 202 means the vote is committed to the outbox table
 * first, so it survives a SIGKILL; anything left there is sent again at the next start. Run
 * with `npm start`; `PORT` (default 3000) and `VOTE_DATA_DIR` (default `.vote-data`).
 */
async function main(): Promise<void> {
  const say = (line: string) => process.stdout.write(`${line}\n`)
  // One process: its services share the secret, so a random one for the run is safe here.
  const config = fromEnvironment(process.env, { generateSecret: true })
  const port = config.port ?? 3000
  const dataDir = resolve(config.dataDir)

  const started = Date.now()
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`
  say(`vote demo: opening the database in ${dataDir} (a first start initialises PGlite: several seconds)`)
  // PGlite's start-up holds the event loop for stretches: each phase says when it is done.
  const store = sharedStore(() => createPgliteStore(dataDir))
  await store.acquire(true)
  say(`  database ready and migrated (${elapsed()})`)
  const bus = createMemoryBus()
  const memory = () => createMemoryTransport({ bus })
  const kept = [handover, { store }] as const

  const tally = tallyService(store, [kept]).create()
  tally.listen(memory()).client(memory())
  const results = resultsService(store).create()
  results.listen(memory())
  const auth = authService(config.jwtSecret).create()
  auth.listen(memory()).client(memory())
  const gateway = gatewayService(config.jwtSecret, [kept]).create()
  // `stoa act --url` reaches the gateway's own actions over the HTTP transport.
  const act = createHttpTransport({ host: '127.0.0.1', port: port === 0 ? 0 : port + 1 })
  // On the bus too, so that vote.recorded reaches the gateway's results stream.
  gateway.client(memory(), ['role:auth', 'role:results']).listen(act).listen(memory())
  const all: Stoa<any>[] = [tally, results, auth, gateway]
  await Promise.all(all.map((s) => s.ready()))
  say(`  services auth, vote, tally and results ready (${elapsed()})`)
  const send = (name: string, data: Record<string, unknown>, id: string) => gateway.send(name, data, { id })
  const resent = await redrive(store, send, 0)
  const server = await serveGateway(gateway, { port })
  const url = server.url
  say(`ready in ${elapsed()}${resent > 0 ? `; ${resent} vote(s) accepted before the last stop sent again` : ''}`)
  if (config.generated) say(`tokens are signed with a random JWT_SECRET for this run: ${config.jwtSecret}`)
  say('')
  say(`  vote:     ${url}/`)
  say(`  results:  ${url}/results`)
  say('')
  say('  with curl:')
  say(
    `    TOKEN=$(curl -s ${url}/api/login -H 'content-type: application/json' -d '{"name":"ada"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')`,
  )
  say(
    `    curl -i ${url}/api/votes -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"choice":"cats"}'`,
  )
  say(`    curl -s ${url}/api/results`)
  say('  with stoa act:')
  say(
    `    npx stoa act --url ${act.address() ?? `http://127.0.0.1:${port + 1}`} role:vote,cmd:cast choice=dogs --token "$TOKEN"`,
  )
  say('')
  say('Ctrl-C stops it; the votes stay in the data directory.')

  const timer = setInterval(() => {
    redrive(store, send, REDRIVE_MS).catch(() => undefined)
  }, REDRIVE_MS)
  const stop = async (signal: string) => {
    say(`\n${signal}: stopping`)
    clearInterval(timer)
    await server.close()
    // The gateway first, so nothing new is accepted; then the services that finish its work.
    for (const s of [gateway, auth, results, tally]) await s.close()
    await store.release()
    process.exit(0)
  }
  process.once('SIGINT', () => void stop('SIGINT'))
  process.once('SIGTERM', () => void stop('SIGTERM'))
}

main().catch((err: unknown) => {
  process.stderr.write(
    `vote demo failed to start: ${err instanceof Error ? (process.env.VOTE_DEBUG ? err.stack : err.message) : String(err)}\n`,
  )
  process.exit(1)
})

import { join, resolve } from 'node:path'
import type { Stoa } from 'stoa'
import { createHttpTransport } from 'stoa/http'
import { createMemoryBus, createMemoryTransport } from 'stoa/memory'
import postgres from 'stoa/postgres'
import { fromEnvironment } from './config.js'
import { authService } from './services/auth.js'
import { gatewayService } from './services/gateway.js'
import { resultsService } from './services/results.js'
import { tallyService } from './services/tally.js'
import { serveGateway } from './web/server.js'

/**
 * The vote system embedded: auth, the vote gateway, the tally worker and results in one
 * process on the memory transport, each service with a database on the postgres plugin: PGlite
 * in a directory of the data directory (`tally/`, `vote/`; the same SQL and migrations as
 * PostgreSQL). A 202 means the vote is committed to the gateway's outbox first, so it survives a
 * SIGKILL; the relay publishes what is left there at the next start. Results reads the tally's
 * database. Run with `npm start`; `PORT` (default 3000) and `VOTE_DATA_DIR` (default `.vote-data`).
 */
async function main(): Promise<void> {
  const say = (line: string) => process.stdout.write(`${line}\n`)
  // One process: its services share the secret, so a random one for the run is safe here.
  const config = fromEnvironment(process.env, { generateSecret: true })
  const port = config.port ?? 3000
  const dataDir = resolve(config.dataDir)

  const started = Date.now()
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`
  say(`vote demo: opening the databases in ${dataDir} (a first start initialises PGlite: several seconds)`)
  // A task's send answers with the handler's outcome: the gateway's relay deletes an outbox row
  // only once the tally committed the vote, so a SIGKILL in between leaves the row to the next start.
  const bus = createMemoryBus({ tasks: 'handled' })
  const memory = () => createMemoryTransport({ bus })

  // PGlite's start-up holds the event loop for stretches: each phase says when it is done.
  const tally = tallyService({ dataDir: join(dataDir, 'tally') }).create()
  tally.listen(memory()).client(memory())
  await tally.ready()
  say(`  tally's database ready and migrated (${elapsed()})`)
  const results = resultsService({ database: () => tally.handleOf(postgres).db }).create()
  results.listen(memory())
  const auth = authService(config.jwtSecret).create()
  auth.listen(memory()).client(memory())
  const gateway = gatewayService(config.jwtSecret, [], { dataDir: join(dataDir, 'vote') }).create()
  // `stoa act --url` reaches the gateway's own actions over the HTTP transport.
  const act = createHttpTransport({ host: '127.0.0.1', port: port === 0 ? 0 : port + 1 })
  // On the bus too, so that vote.recorded reaches the gateway's results stream.
  gateway.client(memory(), ['role:auth', 'role:results']).listen(act).listen(memory())
  const all: Stoa<any>[] = [tally, results, auth, gateway]
  await Promise.all(all.map((s) => s.ready()))
  say(`  services auth, vote, tally and results ready (${elapsed()})`)
  const server = await serveGateway(gateway, { port })
  const url = server.url
  say(`ready in ${elapsed()}`)
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

  const stop = async (signal: string) => {
    say(`\n${signal}: stopping`)
    await server.close()
    // Nothing new is accepted now: hand over what is committed while every service still runs,
    // the gateway's votes to the tally, then the tally's vote.recorded to the gateway's results
    // stream. What cannot go within a few seconds stays in its outbox for the next start.
    for (const s of [gateway, tally]) await handOver(s)
    // The gateway first; then the services that finish its work.
    for (const s of [gateway, auth, results, tally]) await s.close()
    process.exit(0)
  }
  process.once('SIGINT', () => void stop('SIGINT'))
  process.once('SIGTERM', () => void stop('SIGTERM'))
}

/** Publishes what the instance's outbox holds, for at most `ms`; what fails or is late stays for the next start. */
async function handOver(s: Stoa<any>, ms = 5000): Promise<void> {
  const late = new Promise<void>((resolve) => setTimeout(resolve, ms).unref())
  await Promise.race([
    s
      .handleOf(postgres)
      .relay.flush()
      .catch(() => 0),
    late,
  ])
}

main().catch((err: unknown) => {
  process.stderr.write(
    `vote demo failed to start: ${err instanceof Error ? (process.env.VOTE_DEBUG ? err.stack : err.message) : String(err)}\n`,
  )
  process.exit(1)
})

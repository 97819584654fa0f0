import type { Transport } from 'stoa'
import { createAmqpTransport } from 'stoa/amqp'
import { createNatsTransport } from 'stoa/nats'
import { fromEnvironment } from './config.js'
import { gatewayService, voteLimits } from './services/gateway.js'
import { serveGateway } from './web/server.js'

/**
 * One vote gateway of the distributed mode: the gateway service with its pages on `PORT`
 * (default: a free port), its rate limits in Redis when `REDIS_URL` is set, reaching auth and results over RabbitMQ (`AMQP_URL`, queue names
 * under `VOTE_PREFIX`), or NATS when `VOTE_BROKER=nats` (`NATS_URL`), and sending votes to the
 * tally workers' durable queue or stream. Prints
 * `vote listening on <url>` once it takes requests; SIGTERM or SIGINT stop it gracefully.
 * `npm run vote:cluster` starts N of them behind nginx.
 */
async function main(): Promise<void> {
  const config = fromEnvironment()
  // With REDIS_URL every gateway spends one budget per voter and per address, wherever nginx
  // sends each request.
  const store =
    config.redisUrl === undefined ? 'memory' : { redis: config.redisUrl, prefix: `${config.prefix}:ratelimit` }
  const service = gatewayService(config.jwtSecret, [], undefined, { limits: voteLimits, store })
  const gateway = service.create()
  // Acts to auth and to results (the service's declared clients) each go to their own
  // service's queue or subject; tasks leave through the first client, and every transport sends
  // persistent, confirmed messages.
  const common = { prefix: config.prefix, connectionName: `${config.prefix} vote gateway ${process.pid}` }
  const broker = (target: string): Transport =>
    config.broker === 'nats'
      ? createNatsTransport({ ...common, url: config.natsUrl, target })
      : createAmqpTransport({ ...common, url: config.amqpUrl, target })
  for (const [target, pins] of Object.entries(service.clients)) gateway.client(broker(target), pins)
  // Listening brings the events: vote.recorded reaches every gateway for the results stream.
  gateway.listen(
    config.broker === 'nats'
      ? createNatsTransport({ ...common, url: config.natsUrl })
      : createAmqpTransport({ ...common, url: config.amqpUrl }),
  )
  await gateway.ready()
  const server = await serveGateway(gateway, { host: '127.0.0.1', port: config.port ?? 0 })
  process.stdout.write(`vote listening on ${server.url}\n`)
  const stop = async () => {
    await server.close()
    await gateway.close()
    process.exit(0)
  }
  process.once('SIGTERM', () => void stop())
  process.once('SIGINT', () => void stop())
}

main().catch((err: unknown) => {
  process.stderr.write(`vote gateway failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})

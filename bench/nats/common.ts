/**
 * What the NATS contestants share: the server, run names, stream clean-up, and the AMQP suite's
 * workloads (the same RPC and task phases, so the two brokers' figures read alike).
 */
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'

export { emitFiguresLine, onTerm, rpcFigures, runId, startServer, TASKS, taskFigures } from '../amqp/common.js'

/** Server of the benchmark: `STOA_NATS_URL` or nats-server on 127.0.0.1. */
export const NATS_URL = process.env.STOA_NATS_URL ?? 'nats://127.0.0.1:4222'

/** Deletes every stream whose name starts with `prefix`. */
export async function deleteStreams(prefix: string): Promise<void> {
  const nc = await connect({ servers: NATS_URL })
  const jsm = await jetstreamManager(nc)
  const mine: string[] = []
  for await (const s of jsm.streams.list()) if (s.config.name.startsWith(prefix)) mine.push(s.config.name)
  for (const name of mine) await jsm.streams.delete(name)
  await nc.close()
}

import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import amqp from 'amqplib'

const run = promisify(execFile)

/** The broker the tests use. */
export const AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672'

/** A queue and exchange prefix no other run shares. */
export function uniquePrefix(): string {
  return `stoa-cli-${randomBytes(4).toString('hex')}`
}

/**
 * Deletes every queue and exchange whose name starts with `prefix.`: what a test run declared.
 * Names come from `rabbitmqctl`, deletion goes through AMQP.
 */
export async function deleteDeclared(prefix: string): Promise<void> {
  const list = async (what: 'list_queues' | 'list_exchanges') => {
    const { stdout } = await run('rabbitmqctl', [what, 'name', '--silent', '--no-table-headers'])
    return stdout
      .split('\n')
      .map((l) => l.trim())
      .filter((n) => n.startsWith(`${prefix}.`))
  }
  const [queues, exchanges] = await Promise.all([list('list_queues'), list('list_exchanges')])
  const conn = await amqp.connect(AMQP_URL)
  try {
    const ch = await conn.createChannel()
    for (const q of queues) await ch.deleteQueue(q)
    for (const x of exchanges) await ch.deleteExchange(x)
    await ch.close()
  } finally {
    await conn.close()
  }
}

/** The names of the queues and exchanges starting with `prefix.`, for asserting cleanup. */
export async function declared(prefix: string): Promise<string[]> {
  const out: string[] = []
  for (const what of ['list_queues', 'list_exchanges']) {
    const { stdout } = await run('rabbitmqctl', [what, 'name', '--silent', '--no-table-headers'])
    out.push(
      ...stdout
        .split('\n')
        .map((l) => l.trim())
        .filter((n) => n.startsWith(`${prefix}.`)),
    )
  }
  return out
}

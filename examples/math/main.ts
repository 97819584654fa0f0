import { createStoa, StoaError } from 'stoa'
import { createMemoryBus, createMemoryTransport } from 'stoa/memory'
import { math } from './math.js'

/**
 * Two services in one process on the in-memory bus, the embedded default: `math` answers
 * actions, `gateway` calls it by pattern without knowing where it runs, and an `audit`
 * service hears the events math emits. Run with `npm start`.
 */
async function main(): Promise<void> {
  const bus = createMemoryBus()
  const say = (line: string) => process.stdout.write(`${line}\n`)

  const mathService = createStoa({ name: 'math' }).use(math, { precision: 2 })
  // Extend behaviour without editing it: a more specific pattern wraps the general one.
  mathService.add('role:math,cmd:sum,integer:true', (msg, ctx) =>
    ctx.prior({ ...msg, left: Math.floor(Number(msg.left)), right: Math.floor(Number(msg.right)) }),
  )
  // Listening makes its actions reachable; as a client it can also emit onto the bus.
  const mathOnBus = createMemoryTransport({ bus })
  mathService.listen(mathOnBus).client(mathOnBus)

  const audit = createStoa({ name: 'audit' })
  const heard: unknown[] = []
  audit.on('product.computed', (msg) => void heard.push(msg.answer))
  audit.listen(createMemoryTransport({ bus }))

  const gateway = createStoa({ name: 'gateway' }).client(createMemoryTransport({ bus }), ['role:math'])
  await Promise.all([mathService.ready(), audit.ready(), gateway.ready()])

  say(`sum 1 + 2            -> ${JSON.stringify(await gateway.act('role:math,cmd:sum', { left: 1, right: 2 }))}`)
  say(`sum 1.5 + 2.25       -> ${JSON.stringify(await gateway.act('role:math,cmd:sum', { left: 1.5, right: 2.25 }))}`)
  say(
    `integer sum 1.5+2.25 -> ${JSON.stringify(await gateway.act('role:math,cmd:sum,integer:true', { left: 1.5, right: 2.25 }))}`,
  )
  say(`product 3 * 0.5      -> ${JSON.stringify(await gateway.act('role:math,cmd:product', { left: 3, right: 0.5 }))}`)
  try {
    await gateway.act('role:math,cmd:sum', { left: 'one', right: 2 })
  } catch (err) {
    if (!(err instanceof StoaError)) throw err
    say(`sum 'one' + 2        -> ${err.code}: ${err.message}`)
  }
  try {
    await gateway.act('role:math,cmd:divide', { left: 1, right: 0 })
  } catch (err) {
    if (!(err instanceof StoaError)) throw err
    say(`divide               -> ${err.code}: ${err.message}`)
  }
  await waitFor(() => heard.length > 0)
  say(`audit heard          -> product.computed ${JSON.stringify(heard)}`)
  say(
    `math offers          -> ${mathService
      .list()
      .map((a) => a.key)
      .join(' | ')}`,
  )

  await Promise.all([gateway.close(), audit.close(), mathService.close()])
}

/** Events are delivered asynchronously, as on a broker: wait (boundedly) for one to land. */
async function waitFor(check: () => boolean, timeoutMs = 1000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!check() && Date.now() < until) await new Promise((r) => setTimeout(r, 2))
}

await main()

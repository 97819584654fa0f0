// Compiled by `tsc --noEmit` as part of `npm test`: every `@ts-expect-error` line must fail to
// compile, and every other line must compile, or the type check fails.
import type { Context } from '../../actions/index.js'
import { createStoa } from '../../actions/index.js'
import type { MigrationStatus, PostgresHandle, Transaction } from '../../plugins/postgres/index.js'
import postgres from '../../plugins/postgres/index.js'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
const assertType = <T extends true>(_: T) => undefined

const stoa = createStoa({ name: 'tally' }).use(postgres, {
  url: 'postgres://127.0.0.1/tally',
  migrations: './migrations',
})
createStoa().use(postgres)
// @ts-expect-error poolSize is a number
createStoa().use(postgres, { poolSize: '10' })
// @ts-expect-error an unknown option
createStoa().use(postgres, { database: 'tally' })

const handle = stoa.handleOf(postgres)
assertType<Equal<typeof handle, PostgresHandle>>(true)
const status = () => handle.migrations('status')
assertType<Equal<ReturnType<typeof status>, Promise<MigrationStatus>>>(true)

stoa.add('task:tally.vote.record', {
  idempotent: true,
  handler: (_msg, ctx: Context) =>
    handle.transaction(ctx, async (tx: Transaction) => {
      await tx.send('tally.vote.counted', { voter: 'v' })
      return 1
    }),
})
stoa.add('role:vote,cmd:cast', { idempotent: { key: (msg) => String(msg.voter) }, handler: () => 1 })
// @ts-expect-error idempotent is true or { key }
stoa.add('role:vote,cmd:other', { idempotent: 'yes', handler: () => 1 })

import { createDbosEngine } from '../../../plugins/saga/index.js'
import type { TestDatabase } from '../../helpers/postgres.js'
import { createTestDatabase } from '../../helpers/postgres.js'
import { sagaBehaviour } from './behaviour.js'

describe('sagas on DBOS Transact over PostgreSQL', function () {
  this.timeout(60_000)
  let db: TestDatabase | undefined
  before(async () => {
    db = await createTestDatabase('stoa_saga')
  })
  after(async () => {
    await db?.drop()
  })
  sagaBehaviour({
    name: 'dbos',
    // A new engine on the same database and executor id: the next worker of a restart.
    make: () => {
      if (db === undefined) throw new Error('no database yet')
      return createDbosEngine({ url: db.url, executorId: 'saga-test' })
    },
  })
})

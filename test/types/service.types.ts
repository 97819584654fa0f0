// Compiled by `tsc --noEmit` as part of `npm test`: every `@ts-expect-error` line must fail to
// compile, and every other line must compile, or the type check fails.
import { z } from 'zod'
import type { ServiceOptions } from '../../actions/index.js'
import { definePlugin, defineService, secret } from '../../actions/index.js'
import jwt from '../../plugins/jwt/index.js'
import web from '../../plugins/web/index.js'

const db = definePlugin({
  name: 'db',
  options: z.object({ url: z.string(), poolMax: z.number().default(4) }),
  init: () => undefined,
})

defineService({
  name: 'gateway',
  clients: { tally: ['role:tally'] },
  plugins: [
    [web, { maxBodyBytes: 10, routes: { 'GET /n': 'role:tally,cmd:count' } }],
    [db, { url: 'postgres://' }],
    jwt,
  ],
})

// @ts-expect-error a misspelt plugin option: "maxBodyByte" (did you mean "maxBodyBytes"?)
defineService({ name: 'gateway', plugins: [[web, { maxBodyByte: 10 }]] })

// @ts-expect-error an option of the wrong type
defineService({ name: 'gateway', plugins: [[db, { url: 5 }]] })

// @ts-expect-error a required option missing
defineService({ name: 'gateway', plugins: [[db, { poolMax: 2 }]] })

// A list built elsewhere, spread in, still compiles.
const before: ServiceOptions['plugins'] = [[db, { url: 'postgres://' }]]
defineService({ name: 'gateway', plugins: [...before, [web, { prefix: '/api' }]] })

// A Seneca-style plugin function takes any options.
defineService({ name: 'legacy', plugins: [[function legacy() {}, { anything: true }]] })

// Settings: `plugins` is a function of the values, typed from the schemas.
const settings = { DB_URL: secret(z.string()), DB_POOL: z.coerce.number().default(4) }
defineService({
  name: 'store',
  config: settings,
  plugins: (config) => [[db, { url: config.DB_URL, poolMax: config.DB_POOL }]],
})

defineService({
  name: 'store',
  config: settings,
  // @ts-expect-error a setting's type is its schema's output: DB_POOL is a number, not the string url wants
  plugins: (config) => [[db, { url: config.DB_POOL }]],
})

defineService({
  name: 'store',
  config: settings,
  // @ts-expect-error a setting that is not declared
  plugins: (config) => [[db, { url: config.DB_HOST }]],
})

// @ts-expect-error with config, the plugins are a function of it
defineService({ name: 'store', config: settings, plugins: [[db, { url: 'postgres://' }]] })

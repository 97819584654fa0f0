import { Parser } from '@asyncapi/parser'
import { Validator } from '@seriousme/openapi-schema-validator'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import mathService from '../../../examples/math/service.js'
import ordersService from '../../../examples/orders/service.js'
import { authService } from '../../../examples/vote/services/auth.js'
import { gatewayService } from '../../../examples/vote/services/gateway.js'
import { resultsService } from '../../../examples/vote/services/results.js'
import { tallyService } from '../../../examples/vote/services/tally.js'
import { describeContract, toAsyncApi, toOpenApi } from '../../../plugins/contracts/index.js'
import ratelimit from '../../../plugins/ratelimit/index.js'
import web from '../../../plugins/web/index.js'
import { quietLogger } from '../../helpers/wait.js'

async function contractOf(stoa: Stoa) {
  await stoa.ready()
  try {
    return await describeContract(stoa)
  } finally {
    await stoa.close()
  }
}

async function validOpenApi(doc: unknown): Promise<void> {
  const validator = new Validator()
  const res = await validator.validate(doc as Record<string, unknown> as never)
  expect(res.errors ?? [], JSON.stringify(res.errors, null, 1)).to.deep.equal([])
  expect(res.valid).to.equal(true)
  expect(validator.version).to.equal('3.1')
}

async function validAsyncApi(doc: unknown): Promise<void> {
  const { diagnostics } = await new Parser().parse(JSON.stringify(doc))
  const errors = diagnostics.filter((d) => d.severity === 0)
  expect(errors.map((d) => `${d.path.join('.')}: ${d.message}`)).to.deep.equal([])
}

describe('plugins/contracts: documents for examples/math', () => {
  it('writes a valid OpenAPI 3.1 document of the routes, with the result and the errors', async () => {
    const stoa = mathService.create({ logger: quietLogger() })
    stoa.use(web, { routes: { 'GET /sum': 'role:math,cmd:sum', 'POST /product': 'role:math,cmd:product' } })
    const doc = toOpenApi([await contractOf(stoa)]) as any
    await validOpenApi(doc)
    const sum = doc.paths['/sum'].get
    expect(sum.parameters.map((p: any) => [p.name, p.in, p.required])).to.deep.equal([
      ['left', 'query', true],
      ['right', 'query', true],
    ])
    expect(Object.keys(sum.responses)).to.include.members(['200', '400', '500', '503', '504'])
    expect(sum.responses['400'].content['application/json'].schema.properties.error.properties.code.enum).to.deep.equal(
      ['INVALID_MESSAGE'],
    )
    const product = doc.paths['/product'].post
    expect(product.requestBody.content['application/json'].schema.required).to.deep.equal(['left', 'right'])
    expect(Object.keys(product.responses)).to.include.members(['413', '415'])
    expect(Object.keys(product.responses)).not.to.include('429')
  })

  it('lists 429 RATE_LIMITED where the rate-limit plugin is loaded', async () => {
    const stoa = mathService.create({ logger: quietLogger() })
    stoa.use(ratelimit, { limits: { 'role:math,cmd:sum': { points: 5, durationSec: 1, by: 'address' } } })
    stoa.use(web, { routes: { 'GET /sum': 'role:math,cmd:sum' } })
    const doc = toOpenApi([await contractOf(stoa)]) as any
    await validOpenApi(doc)
    const limited = doc.paths['/sum'].get.responses['429']
    expect(limited.content['application/json'].schema.properties.error.properties.code.enum).to.deep.equal([
      'RATE_LIMITED',
    ])
  })

  it('writes a valid AsyncAPI 3 document with the RPC queue and its reply', async () => {
    const doc = toAsyncApi([await contractOf(mathService.create({ logger: quietLogger() }))], {
      prefix: 'ct',
      nats: '127.0.0.1:4222',
    }) as any
    await validAsyncApi(doc)
    expect(doc.channels['rpc.math'].address).to.equal('ct.rpc.math')
    expect(doc.channels['rpc.math'].bindings.amqp.queue).to.include({ name: 'ct.rpc.math', durable: false })
    expect(doc.operations['math.act'].reply.channel.$ref).to.equal('#/channels/rpc.math.reply')
    // Over NATS an act carries no headers: its metadata and message travel in the body.
    const overNats = Object.values(doc.channels['rpc.math.nats'].messages) as any[]
    expect(overNats).to.not.have.length(0)
    for (const m of overNats) {
      expect(m.headers).to.equal(undefined)
      expect(m.payload.required).to.deep.equal(['stoa', 'msg'])
      expect(m.payload.properties.stoa.required).to.deep.equal(['v', 'id'])
    }
  })
})

const secret = 'ct-docs-secret-that-is-long-enough-for-hs256'

/** The vote services' contracts, read once: the tally opens an embedded database to start. */
let voteContractsRead: ReturnType<typeof readVoteContracts> | undefined
function voteContracts() {
  voteContractsRead ??= readVoteContracts()
  return voteContractsRead
}

async function readVoteContracts() {
  return Promise.all(
    [
      gatewayService(secret).create({ logger: quietLogger() }),
      authService(secret).create({ logger: quietLogger() }),
      resultsService({}).create({ logger: quietLogger() }),
      tallyService({ dataDir: 'memory://' }).create({ logger: quietLogger() }),
    ].map(contractOf),
  )
}

describe('plugins/contracts: documents for the vote system', function () {
  this.timeout(60_000)
  before(() => voteContracts())
  it('writes a valid OpenAPI 3.1 document: the gateway routes with the schemas of every service', async () => {
    const doc = toOpenApi(await voteContracts(), { title: 'vote' }) as any
    await validOpenApi(doc)
    const cast = doc.paths['/api/votes'].post
    expect(cast.operationId).to.equal('vote.cast')
    expect(cast['x-stoa-permission']).to.equal('vote:cast')
    expect(cast.requestBody.content['application/json'].schema.properties.choice.enum).to.deep.equal(['cats', 'dogs'])
    expect(cast.responses['202'].content['application/json'].schema.required).to.deep.equal(['voteId', 'acceptedAt'])
    const codes = (status: string) =>
      cast.responses[status].content['application/json'].schema.properties.error.properties.code.enum
    expect(codes('400')).to.deep.equal(['INVALID_MESSAGE', 'INVALID_JSON'])
    expect(codes('401')).to.deep.equal(['UNAUTHENTICATED'])
    expect(codes('403')).to.deep.equal(['FORBIDDEN'])
    expect(codes('413')).to.deep.equal(['PAYLOAD_TOO_LARGE'])
    expect(codes('415')).to.deep.equal(['UNSUPPORTED_MEDIA_TYPE'])
    expect(cast.security).to.deep.equal([{ bearer: [] }, { cookie: [] }])
    expect(doc.components.securitySchemes.bearer).to.include({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
    expect(doc.components.securitySchemes.cookie).to.include({ type: 'apiKey', in: 'cookie' })
    // Login and results are answered by other services: their schemas come from their contracts.
    const login = doc.paths['/api/login'].post
    expect(login.security).to.deep.equal([])
    expect(login.responses['200'].content['application/json'].schema.required).to.include('token')
    expect(login.responses['401']).to.equal(undefined)
    expect(doc.paths['/api/results'].get.responses['200'].content['application/json'].schema.properties).to.have.keys(
      'cats',
      'dogs',
      'total',
      'duplicates',
    )
  })

  it('writes a valid AsyncAPI 3 document: task queue, events, RPC and dead letters with AMQP bindings', async () => {
    const doc = toAsyncApi(await voteContracts(), { prefix: 'vote', nats: '127.0.0.1:4222' }) as any
    await validAsyncApi(doc)
    const tasks = doc.channels['tasks.tally']
    expect(tasks.address).to.equal('vote.tasks.tally')
    expect(tasks.bindings.amqp.queue).to.include({ name: 'vote.tasks.tally', durable: true })
    expect(tasks.messages['tally.vote.record'].payload.required).to.include.members(['voteId', 'voter', 'choice'])
    expect(doc.operations['tally.handle.tally.vote.record'].action).to.equal('receive')
    expect(doc.operations['vote.send.tally.vote.record'].action).to.equal('send')
    const events = doc.channels.events
    expect(events.bindings.amqp.exchange).to.include({ name: 'vote.events', type: 'topic', durable: true })
    expect(Object.keys(events.messages)).to.include.members(['vote.recorded', 'user.authed'])
    expect(doc.operations['tally.emit.vote.recorded'].bindings.amqp.cc).to.deep.equal(['vote.recorded'])
    const dlq = doc.channels['dlq.tally']
    expect(dlq.address).to.equal('vote.dlq.tally')
    expect(dlq.messages.deadLetter.headers.required).to.include('x-stoa-error-code')
    expect(doc.operations['vote.act'].reply.channel.$ref).to.equal('#/channels/rpc.vote.reply')
    expect(doc.channels['tasks.tally.nats'].address).to.equal('vote.tasks.tally.>')
    // Over NATS tasks and events carry NATS's headers (JetStream's id, `stoa-` names), not AMQP's.
    const natsChannels = Object.keys(doc.channels).filter((id) => /^(tasks|events)\b.*\.nats$/.test(id))
    expect(natsChannels).to.include.members(['tasks.tally.nats', 'events.nats'])
    for (const id of natsChannels) {
      const messages = Object.values(doc.channels[id].messages) as any[]
      expect(messages, id).to.not.have.length(0)
      for (const m of messages) {
        expect(Object.keys(m.headers.properties), id).to.include.members(['Nats-Msg-Id', 'stoa-trace', 'stoa-token'])
        expect(
          Object.keys(m.headers.properties).filter((k) => k.startsWith('x-')),
          id,
        ).to.deep.equal([])
        expect(m.bindings, id).to.equal(undefined)
      }
    }
    const natsDlq = doc.channels['dlq.tally.nats'].messages.deadLetter.headers
    expect(natsDlq.required).to.include.members(['stoa-error-code', 'stoa-attempts', 'stoa-subject'])
    expect(Object.keys(natsDlq.properties)).to.include('stoa-id').and.not.include('Nats-Msg-Id')
  })

  it('uses validators that refuse a broken document', async () => {
    const doc = toOpenApi(await voteContracts()) as any
    doc.paths['/api/votes'].post.responses = 'none'
    const res = await new Validator().validate(doc as never)
    expect(res.valid).to.equal(false)
    const bad = toAsyncApi(await voteContracts()) as any
    bad.channels['tasks.tally'].bindings.amqp.queue.durable = 'yes'
    const { diagnostics } = await new Parser().parse(JSON.stringify(bad))
    expect(diagnostics.filter((d) => d.severity === 0)).to.not.have.length(0)
  })
})

describe('plugins/contracts: documents for examples/orders', () => {
  it('writes a valid OpenAPI 3.1 document with the path parameter and the 201', async () => {
    const doc = toOpenApi([await contractOf(ordersService.create({ logger: quietLogger() }))]) as any
    await validOpenApi(doc)
    expect(doc.info.version).to.equal('1.0.0')
    const get = doc.paths['/orders/{id}'].get
    expect(get.parameters).to.deep.equal([
      { name: 'id', in: 'path', required: true, schema: doc.paths['/orders/{id}'].get.parameters[0].schema },
    ])
    expect(get.parameters[0].schema).to.include({ type: 'string', format: 'uuid' })
    expect(get.security).to.deep.equal([])
    const place = doc.paths['/orders'].post
    expect(place.responses['201'].content['application/json'].schema.properties.status.enum).to.deep.equal([
      'placed',
      'shipped',
    ])
    expect(place.responses['401']).to.equal(undefined)
  })

  it('writes a valid AsyncAPI 3 document with its own task queue and both events', async () => {
    const doc = toAsyncApi([await contractOf(ordersService.create({ logger: quietLogger() }))]) as any
    await validAsyncApi(doc)
    expect(Object.keys(doc.channels['tasks.orders'].messages)).to.deep.equal(['orders.order.ship'])
    expect(Object.keys(doc.channels.events.messages)).to.deep.equal(['order.placed', 'order.shipped'])
    expect(doc.operations['orders.send.orders.order.ship'].action).to.equal('send')
    expect(doc.operations['orders.handle.orders.order.ship'].action).to.equal('receive')
    expect(doc.channels['dlq.orders'].address).to.equal('stoa.dlq.orders')
  })

  it('answers within its result schemas, checked', async () => {
    const stoa = ordersService.create({ logger: quietLogger(), checkResults: true })
    await stoa.ready()
    try {
      const placed = (await stoa.act('role:orders,cmd:place', { item: 'lamp', quantity: 2 })) as { orderId: string }
      const got = (await stoa.act('role:orders,cmd:get', { id: placed.orderId })) as { status: string }
      expect(['placed', 'shipped']).to.include(got.status)
    } finally {
      await stoa.close()
    }
  })
})

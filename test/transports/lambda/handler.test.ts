import { expect } from 'chai'
import type { Context, Message } from '../../../actions/index.js'
import { batchAction, definePlugin, defineService, StoaError } from '../../../actions/index.js'
import { detectEvent } from '../../../transports/lambda/handler.js'
import { lambdaHandler } from '../../../transports/lambda/index.js'
import { encodeRequest } from '../../../transports/lambda/wire.js'
import { eventBridgeEvent, lambdaContext, samples, sqsEvent } from '../../fixtures/lambda/events.js'
import service from '../../fixtures/lambda/service.js'
import { runtimeError } from '../../helpers/lambda-endpoint.js'
import { quietLogger } from '../../helpers/wait.js'

/** The tally service as a handler, with its log kept for assertions. */
function tallyHandler(options?: Parameters<typeof lambdaHandler>[1]) {
  const logger = quietLogger()
  const handler = lambdaHandler(service.create({ logger }), options)
  return { handler, logger }
}

async function failure(p: Promise<unknown>): Promise<StoaError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err, 'the invocation must fail').to.be.instanceOf(StoaError)
  return err as StoaError
}

describe('transports/lambda/handler', () => {
  const opened: { handler: { stoa: { close(): Promise<void> } } }[] = []
  const make = (options?: Parameters<typeof lambdaHandler>[1]) => {
    const made = tallyHandler(options)
    opened.push(made)
    return made
  }
  after(async () => {
    for (const { handler } of opened) await handler.stoa.close()
  })

  describe('detectEvent', () => {
    it('tells each AWS sample event apart', () => {
      expect(detectEvent(samples.apigwV1())?.kind).to.equal('apigw-v1')
      expect(detectEvent(samples.apigwV2())?.kind).to.equal('apigw-v2')
      expect(detectEvent(samples.sqs())?.kind).to.equal('sqs')
      expect(detectEvent(samples.eventBridge())?.kind).to.equal('eventbridge')
      expect(detectEvent(samples.scheduled())?.kind).to.equal('eventbridge')
      expect(detectEvent({ role: 'tally', cmd: 'sum' })?.kind).to.equal('direct')
      expect(
        detectEvent(JSON.parse(encodeRequest({ kind: 'act', msg: {}, meta: { id: 'a', trace: 'a' } })))?.kind,
      ).to.equal('direct')
    })

    it('recognises no shape it does not serve', () => {
      const s3 = { Records: [{ eventSource: 'aws:s3', s3: { bucket: { name: 'b' } } }] }
      const alb = { ...samples.apigwV1(), requestContext: { elb: { targetGroupArn: 'arn' } } }
      const sns = { Records: [{ EventSource: 'aws:sns', Sns: {} }] }
      const snsEnvelope = { Type: 'Notification', MessageId: 'm', TopicArn: 'arn:aws:sns:us-east-2:1:t', Message: '{}' }
      for (const event of [
        s3,
        alb,
        sns,
        snsEnvelope,
        { Records: [] },
        [],
        'text',
        42,
        null,
        undefined,
        { awslogs: { data: '' } },
      ]) {
        expect(detectEvent(event), JSON.stringify(event)?.slice(0, 60)).to.equal(undefined)
      }
    })
  })

  describe('unknown event shapes', () => {
    for (const [what, event] of [
      ['an S3 notification', { Records: [{ eventSource: 'aws:s3' }] }],
      ['an array', [1, 2]],
      ['a string', 'hello'],
      ['null', null],
    ] as const) {
      it(`fails ${what} with INVALID_MESSAGE and logs it, without running anything`, async () => {
        const { handler, logger } = make()
        const err = await failure(handler(event, lambdaContext()))
        expect(err.code).to.equal('INVALID_MESSAGE')
        expect(err.message).to.match(
          /^INVALID_MESSAGE: this function serves stoa payloads, API Gateway, function URL, SQS and EventBridge events; got /,
        )
        expect(logger.entries.some((e) => e.level === 'error' && e.message === 'unknown event shape')).to.equal(true)
      })
    }
  })

  describe('what a failed invocation shows its invoker', () => {
    /** The invocation's error payload as the Node runtime writes it: `{ errorType, errorMessage, trace }`. */
    const answered = async (p: Promise<unknown>) => runtimeError(await failure(p))
    const task = JSON.parse(
      encodeRequest({
        kind: 'send',
        name: 'tally.vote.record',
        msg: { voter: 'bad-t' },
        meta: { id: 'bad-t', trace: 'bad-t' },
      }),
    )
    for (const [what, event, message] of [
      ['a failing act as a plain message', { role: 'tally', cmd: 'deny' }, 'FORBIDDEN: not for you'],
      ['a crashing act as a plain message', { role: 'tally', cmd: 'crash' }, /^ACTION_FAILED: /],
      ['a failed task', task, 'INVALID_MESSAGE: voter bad-t is not on the roll'],
      [
        'an EventBridge event with no subscriber',
        eventBridgeEvent('user.created', {}),
        'NOT_FOUND: service "tally" has no subscriber for event "user.created"',
      ],
      ['an EventBridge event with an invalid name', samples.scheduled(), /^INVALID_NAME: /],
      ['an unknown event shape', { Records: [{ eventSource: 'aws:s3' }] }, /^INVALID_MESSAGE: this function serves /],
    ] as const) {
      it(`answers ${what} with CODE: message and no stack frame, and logs the stack`, async () => {
        const { handler, logger } = make()
        const out = await answered(handler(event, lambdaContext()))
        expect(out.errorType).to.equal('StoaError')
        if (typeof message === 'string') expect(out.errorMessage).to.equal(message)
        else expect(out.errorMessage).to.match(message)
        expect(out.trace).to.deep.equal([`StoaError: ${out.errorMessage}`])
        expect(JSON.stringify(out)).not.to.match(/\.[jt]s:\d+|secret/)
        const logged = logger.entries.find((e) => e.message === 'invocation failed')
        expect(logged?.fields).to.include({ code: out.errorMessage.split(':')[0], requestId: 'req-1' })
        expect(logged?.fields.stack).to.match(/\n\s+at /)
      })
    }

    it('answers anything else thrown (a bug) as ACTION_FAILED, without its message or stack, and logs both', async () => {
      const { handler, logger } = make()
      await handler.ready()
      // Lambda hands over parsed JSON; a getter that throws stands for a bug in a processor.
      const event = {
        get Records(): never {
          throw new TypeError('cannot read /var/task/secret.js')
        },
      }
      const out = await answered(Promise.resolve().then(() => handler(event, lambdaContext())))
      expect(out).to.deep.equal({
        errorType: 'StoaError',
        errorMessage: 'ACTION_FAILED: the invocation failed',
        trace: ['StoaError: ACTION_FAILED: the invocation failed'],
      })
      const logged = logger.entries.find((e) => e.message === 'invocation failed')
      expect(logged?.level).to.equal('error')
      expect(logged?.fields.stack).to.match(/^TypeError: cannot read \/var\/task\/secret\.js\n\s+at /)
    })

    it('answers a start failure with CODE: message and no stack frame', async () => {
      const broken = definePlugin({
        name: 'broken',
        init() {
          throw new StoaError('INVALID_OPTIONS', 'option "url" is required')
        },
      })
      const handler = lambdaHandler(defineService({ name: 'broken', plugins: [broken], logger: quietLogger() }))
      const out = await answered(handler({ role: 'x' }, lambdaContext()))
      expect(out.errorMessage).to.match(/^INVALID_OPTIONS: /)
      expect(out.trace).to.deep.equal([`StoaError: ${out.errorMessage}`])
    })
  })

  describe('start', () => {
    it('starts the service once, before the first invocation, and reuses it', async () => {
      const { handler } = make()
      await handler.ready()
      const first = (await handler({ role: 'tally', cmd: 'inits' }, lambdaContext())) as { inits: number }
      for (let i = 0; i < 3; i++)
        expect(await handler({ role: 'tally', cmd: 'inits' }, lambdaContext())).to.deep.equal(first)
    })

    it('answers every invocation with the start failure, without crashing', async () => {
      const broken = definePlugin({
        name: 'broken',
        init() {
          throw new StoaError('INVALID_OPTIONS', 'plugin "broken": option "url" is required')
        },
      })
      const logger = quietLogger()
      const handler = lambdaHandler(defineService({ name: 'broken', plugins: [broken], logger }))
      for (let i = 0; i < 2; i++) {
        const err = await failure(handler({ role: 'x' }, lambdaContext()))
        expect(err.code).to.equal('INVALID_OPTIONS')
        expect(err.message).to.match(/^INVALID_OPTIONS: plugin "broken" failed to start: .*option "url" is required$/)
      }
      expect(logger.entries.some((e) => e.message === 'the service failed to start')).to.equal(true)
    })
  })

  describe('direct invocations', () => {
    it('runs a plain JSON message as an act and returns the bare result', async () => {
      const { handler } = make()
      expect(await handler({ role: 'tally', cmd: 'sum', left: 1, right: 2 }, lambdaContext())).to.deep.equal({
        answer: 3,
      })
    })

    it('fails a plain message as a thrown StoaError whose message starts with its code', async () => {
      const { handler } = make()
      const err = await failure(handler({ role: 'tally', cmd: 'deny' }, lambdaContext()))
      expect(err.code).to.equal('FORBIDDEN')
      expect(err.message).to.equal('FORBIDDEN: not for you')
    })

    it('answers a stoa act with a stoa reply, errors included', async () => {
      const { handler } = make()
      const act = (msg: Record<string, unknown>) =>
        JSON.parse(
          encodeRequest({ kind: 'act', msg, meta: { id: 'id-1', trace: 't-1', token: 'tok', caller: 'gateway' } }),
        )
      expect(await handler(act({ role: 'tally', cmd: 'sum', left: 2, right: 3 }), lambdaContext())).to.deep.equal({
        stoa: 1,
        ok: true,
        out: { answer: 5 },
      })
      expect(await handler(act({ role: 'tally', cmd: 'deny' }), lambdaContext())).to.deep.equal({
        stoa: 1,
        ok: false,
        error: { code: 'FORBIDDEN', message: 'not for you', details: { need: 'tally:admin' } },
      })
      const who = (await handler(act({ role: 'tally', cmd: 'whoami' }), lambdaContext())) as {
        out: Record<string, unknown>
      }
      expect(who.out).to.include({ token: 'tok', caller: 'gateway', trace: 't-1' })
    })

    it('answers a malformed stoa act with INVALID_MESSAGE naming the field', async () => {
      const { handler } = make()
      const out = (await handler({ stoa: { v: 1, kind: 'act', id: 'has spaces' }, msg: {} }, lambdaContext())) as {
        ok: boolean
        error: { code: string; details: unknown }
      }
      expect(out.ok).to.equal(false)
      expect(out.error.code).to.equal('INVALID_MESSAGE')
      expect(out.error.details).to.deep.equal({ field: 'stoa.id' })
    })

    it('throws for a failed task, so Lambda retries it and then dead-letters it', async () => {
      const { handler } = make()
      const task = (voter: string) =>
        JSON.parse(
          encodeRequest({ kind: 'send', name: 'tally.vote.record', msg: { voter }, meta: { id: voter, trace: voter } }),
        )
      expect(JSON.parse(JSON.stringify(await handler(task('v1'), lambdaContext())))).to.deep.equal({
        stoa: 1,
        ok: true,
      })
      const err = await failure(handler(task('bad-1'), lambdaContext()))
      expect(err.code).to.equal('INVALID_MESSAGE')
    })

    it('gives each call the time Lambda leaves, less the margin', async () => {
      const { handler } = make({ marginMs: 500 })
      const who = (await handler({ role: 'tally', cmd: 'whoami' }, lambdaContext(800))) as { remainingMs: number }
      expect(who.remainingMs).to.be.within(1, 300)
      const err = await failure(handler({ role: 'tally', cmd: 'slow', ms: 2000 }, lambdaContext(700)))
      expect(err.code).to.equal('TIMEOUT')
    })

    it("refuses a result over Lambda's response limit with PAYLOAD_TOO_LARGE", async () => {
      const { handler } = make({ maxResponseBytes: 1000 })
      const err = await failure(handler({ role: 'tally', cmd: 'big', bytes: 2000 }, lambdaContext()))
      expect(err.code).to.equal('PAYLOAD_TOO_LARGE')
    })
  })

  describe('SQS', () => {
    const task = (voter: string) => ({
      body: JSON.stringify({ voter }),
      attributes: { 'stoa-task': 'tally.vote.record' },
    })

    it('reports exactly the two failing records of a batch of five', async () => {
      const { handler, logger } = make()
      const event = sqsEvent([task('v1'), task('bad-2'), task('v3'), task('bad-4'), task('v5')])
      const out = await handler(event, lambdaContext())
      expect(out).to.deep.equal({ batchItemFailures: [{ itemIdentifier: 'msg-2' }, { itemIdentifier: 'msg-4' }] })
      const seen = (await handler.stoa.act('role:tally,cmd:seen')) as { tasks: string[] }
      expect([...seen.tasks].sort()).to.deep.equal(['v1', 'v3', 'v5'])
      expect(logger.entries.filter((e) => e.message === 'SQS record failed; it returns to the queue')).to.have.length(2)
    })

    it("answers with the batch response format of AWS's sample", async () => {
      const { handler } = make()
      const out = (await handler(sqsEvent([task('bad-a'), task('ok')]), lambdaContext())) as {
        batchItemFailures: object[]
      }
      const sample = samples.batchResponse()
      expect(Object.keys(out)).to.deep.equal(Object.keys(sample))
      expect(out.batchItemFailures.map((f) => Object.keys(f))).to.deep.equal([
        Object.keys(sample.batchItemFailures[0]!),
      ])
    })

    it('fails records it cannot read, and only those: no task name, bad JSON, an act', async () => {
      const { handler } = make()
      const act = encodeRequest({ kind: 'act', msg: { role: 'tally', cmd: 'sum' }, meta: { id: 'a', trace: 'a' } })
      const send = encodeRequest({
        kind: 'send',
        name: 'tally.vote.record',
        msg: { voter: 'env-1' },
        meta: { id: 'b', trace: 'b' },
      })
      const event = sqsEvent([
        ...samples.sqs().Records.map((r) => ({ body: r.body })),
        { body: '{not json', attributes: { 'stoa-task': 'tally.vote.record' } },
        { body: act },
        { body: send },
      ])
      const out = await handler(event, lambdaContext())
      expect(out).to.deep.equal({
        batchItemFailures: ['msg-1', 'msg-2', 'msg-3', 'msg-4'].map((itemIdentifier) => ({ itemIdentifier })),
      })
      const seen = (await handler.stoa.act('role:tally,cmd:seen')) as { tasks: string[] }
      expect(seen.tasks).to.include('env-1')
    })

    it('runs a plain pattern message as an act, its result discarded, failing only the records that fail', async () => {
      const { handler, logger } = make()
      await handler.ready()
      const noted: { voter: unknown; caller: unknown; trace: string; token: unknown }[] = []
      handler.stoa.add('role:tally,cmd:note', (m: Message, ctx: Context) => {
        noted.push({ voter: m.voter, caller: ctx.caller, trace: ctx.trace, token: ctx.token })
        return { noted: true }
      })
      const plain = (msg: Record<string, unknown>, attributes?: Record<string, string>) => ({
        body: JSON.stringify(msg),
        ...(attributes === undefined ? {} : { attributes }),
      })
      const event = sqsEvent([
        plain({ role: 'tally', cmd: 'note', voter: 'p1' }, { 'stoa-trace': 'trace-p1', 'stoa-token': 'tok' }),
        plain({ role: 'tally', cmd: 'deny' }),
        plain({ role: 'tally', cmd: 'sum', left: 1, right: 1 }),
        plain({ role: 'nobody', cmd: 'listens' }),
        plain({ role: 'tally', cmd: 'note', voter: 'p5' }),
      ])
      expect(await handler(event, lambdaContext())).to.deep.equal({
        batchItemFailures: [{ itemIdentifier: 'msg-2' }, { itemIdentifier: 'msg-4' }],
      })
      expect(noted).to.deep.equal([
        { voter: 'p1', caller: 'sqs', trace: 'trace-p1', token: 'tok' },
        { voter: 'p5', caller: 'sqs', trace: 'msg-5', token: undefined },
      ])
      const failed = logger.entries.filter((e) => e.message === 'SQS record failed; it returns to the queue')
      expect(failed.map((e) => e.fields.code).sort()).to.deep.equal(['FORBIDDEN', 'NOT_FOUND'])
    })

    it('does not run an AWS notification or a non-object body as a message', async () => {
      const { handler } = make()
      await handler.ready()
      let ran = 0
      // An action that an SNS envelope would match, were it run as a message.
      handler.stoa.add('Type:Notification', () => {
        ran++
      })
      const s3 = { Records: [{ eventSource: 'aws:s3', s3: { bucket: { name: 'b' } } }] }
      const sns = { Type: 'Notification', MessageId: 'm', TopicArn: 'arn:aws:sns:us-east-2:1:t', Message: '{}' }
      const event = sqsEvent([s3, sns, [1, 2], 42, 'text'].map((b) => ({ body: JSON.stringify(b) })))
      const out = (await handler(event, lambdaContext())) as { batchItemFailures: object[] }
      expect(out.batchItemFailures).to.have.length(5)
      expect(ran).to.equal(0)
    })

    it('hands a batched handler the records at once and reports only the one that failed alone', async () => {
      const tried: string[][] = []
      const committed: string[] = []
      const ballots = definePlugin({
        name: 'ballots',
        actions: {
          'task:ballots.vote.record': batchAction({
            batch: { max: 10, waitMs: 5000 },
            handler: (items) => {
              const voters = items.map((i) => String(i.msg.voter))
              tried.push(voters)
              if (voters.includes('poison')) throw new StoaError('INVALID_MESSAGE', 'cannot be recorded')
              committed.push(...voters)
            },
          }),
        },
      })
      const stoa = defineService({ name: 'ballots', plugins: [ballots] }).create({ logger: quietLogger() })
      const handler = lambdaHandler(stoa)
      opened.push({ handler })
      const record = (voter: string) => ({
        body: JSON.stringify({ voter }),
        attributes: { 'stoa-task': 'ballots.vote.record' },
      })
      const voters = ['b1', 'b2', 'poison', 'b4', 'b5', 'b6', 'b7', 'b8', 'b9', 'b10']
      const out = await handler(sqsEvent(voters.map(record)), lambdaContext())
      expect(out).to.deep.equal({ batchItemFailures: [{ itemIdentifier: 'msg-3' }] })
      // The ten records are one batch (max 10), bisected down to the poison alone.
      expect(tried[0]).to.deep.equal(voters)
      expect(tried.filter((b) => b.includes('poison')).at(-1)).to.deep.equal(['poison'])
      expect([...committed].sort()).to.deep.equal(voters.filter((v) => v !== 'poison').sort())
    })

    it('on a FIFO queue, stops at the first failure and returns it and the rest, in order', async () => {
      const { handler } = make()
      const event = sqsEvent([task('f1'), task('bad-f2'), task('f3')], 'arn:aws:sqs:us-east-2:123456789012:votes.fifo')
      expect(await handler(event, lambdaContext())).to.deep.equal({
        batchItemFailures: [{ itemIdentifier: 'msg-2' }, { itemIdentifier: 'msg-3' }],
      })
      const seen = (await handler.stoa.act('role:tally,cmd:seen')) as { tasks: string[] }
      expect(seen.tasks).to.include('f1').and.not.to.include('f3')
    })

    it('delivers an event named by the stoa-event attribute to the subscribers, and fails one nobody here takes', async () => {
      const { handler } = make()
      const event = sqsEvent([
        { body: '{"voter":"e1"}', attributes: { 'stoa-event': 'vote.recorded' } },
        { body: '{}', attributes: { 'stoa-event': 'user.created' } },
      ])
      expect(await handler(event, lambdaContext())).to.deep.equal({ batchItemFailures: [{ itemIdentifier: 'msg-2' }] })
      const seen = (await handler.stoa.act('role:tally,cmd:seen')) as { events: { name: string }[] }
      expect(seen.events.map((e) => e.name)).to.deep.equal(['vote.recorded'])
    })
  })

  it('reads an EventBridge event an SQS target queued, with the events mapping', async () => {
    const { handler } = make({ events: { OrderPurchased: 'order.purchased' } })
    const out = await handler(sqsEvent([{ body: JSON.stringify(samples.eventBridge()) }]), lambdaContext())
    expect(out).to.deep.equal({ batchItemFailures: [] })
    const seen = (await handler.stoa.act('role:tally,cmd:seen')) as { events: { name: string }[] }
    expect(seen.events.map((e) => e.name)).to.deep.equal(['order.purchased'])
  })

  describe('EventBridge', () => {
    it('delivers detail-type as the event name and detail as its data', async () => {
      const { handler } = make()
      expect(await handler(eventBridgeEvent('vote.recorded', { voter: 'v9' }), lambdaContext())).to.equal(undefined)
      const seen = (await handler.stoa.act('role:tally,cmd:seen')) as { events: { name: string; data: unknown }[] }
      expect(seen.events).to.deep.equal([{ name: 'vote.recorded', data: { voter: 'v9' } }])
    })

    it("maps a detail-type through the events option (AWS's sample, OrderPurchased)", async () => {
      const { handler } = make({ events: { OrderPurchased: 'order.purchased' } })
      await handler(samples.eventBridge(), lambdaContext())
      const seen = (await handler.stoa.act('role:tally,cmd:seen')) as {
        events: { name: string; data: { id: number } }[]
      }
      expect(seen.events.map((e) => [e.name, e.data.id])).to.deep.equal([['order.purchased', 10876546789]])
    })

    it('fails an event it cannot deliver, so Lambda retries it: a bad name, or no subscriber here', async () => {
      const { handler, logger } = make()
      expect((await failure(handler(samples.eventBridge(), lambdaContext()))).code).to.equal('INVALID_NAME')
      expect((await failure(handler(samples.scheduled(), lambdaContext()))).code).to.equal('INVALID_NAME')
      const none = await failure(handler(eventBridgeEvent('user.created', {}), lambdaContext()))
      expect(none.code).to.equal('NOT_FOUND')
      expect(none.message).to.equal('NOT_FOUND: service "tally" has no subscriber for event "user.created"')
      expect(
        logger.entries.filter((e) => e.message === 'EventBridge event failed; Lambda will retry it'),
      ).to.have.length(3)
    })
  })
})

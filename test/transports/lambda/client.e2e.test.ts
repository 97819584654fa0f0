import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import type { LambdaOptions } from '../../../transports/lambda/index.js'
import { createLambdaTransport } from '../../../transports/lambda/index.js'
import type { ChildContainer } from '../../helpers/lambda-container.js'
import { childContainer } from '../../helpers/lambda-container.js'
import type { LambdaEndpoint } from '../../helpers/lambda-endpoint.js'
import { startLambdaEndpoint } from '../../helpers/lambda-endpoint.js'
import { quietLogger, waitFor } from '../../helpers/wait.js'

/*
 * The real AWS SDK client against a local Invoke API endpoint, with each function's handler
 * running in its own process as Lambda runs it: the module loaded once, then one invocation
 * at a time.
 */
describe('transports/lambda: the SDK client and a handler in a Lambda-like runtime', function () {
  this.timeout(30_000)
  let endpoint: LambdaEndpoint
  let tally: ChildContainer
  let plain: ChildContainer
  const instances: Stoa<any>[] = []
  const AWS = { endpoint: '', region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }

  before(async () => {
    endpoint = await startLambdaEndpoint()
    AWS.endpoint = endpoint.url
    ;[tally, plain] = await Promise.all([
      childContainer('test/fixtures/lambda/handler.ts'),
      childContainer('test/fixtures/lambda/plain-function.ts'),
    ])
    endpoint.addFunction('tally', [tally], 3000)
    endpoint.addFunction('plain', [plain], 3000)
  })
  after(async () => {
    for (const s of instances) await s.close()
    await endpoint?.close()
  })

  /** A gateway calling `functionName` for acts matching `pins`. */
  async function gateway(
    functionName: string,
    pins: string[],
    options: Partial<LambdaOptions> = {},
  ): Promise<Stoa<any>> {
    const s = createStoa({ name: 'gateway', logger: quietLogger() }).client(
      createLambdaTransport({ ...AWS, functionName, maxAttempts: 1, ...options }),
      pins,
    )
    instances.push(s)
    return s.ready()
  }

  async function failure(p: Promise<unknown>): Promise<StoaError> {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).to.be.instanceOf(StoaError)
    return err as StoaError
  }

  it('round-trips an act as a RequestResponse invocation', async () => {
    const g = await gateway('tally', ['role:tally'])
    expect(await g.act('role:tally,cmd:sum', { left: 1, right: 2 })).to.deep.equal({ answer: 3 })
    const last = endpoint.invocations.at(-1)!
    expect(last.type).to.equal('RequestResponse')
    expect(JSON.parse(last.payload).stoa).to.include({ v: 1, kind: 'act', caller: 'gateway' })
  })

  it("carries token, trace and the time budget, bounded by the function's own time left", async () => {
    const g = await gateway('tally', ['role:tally'])
    const who = (await g.act(
      'role:tally,cmd:whoami',
      {},
      { token: 'tok.en.jwt', trace: 'trace-7', timeoutMs: 60_000 },
    )) as Record<string, unknown>
    expect(who).to.include({ token: 'tok.en.jwt', trace: 'trace-7', caller: 'gateway' })
    // The function's timeout is 3 s, less the handler's 500 ms margin: the 60 s budget shrinks to it.
    expect(who.remainingMs).to.be.within(1, 2500)
  })

  it("brings a function's stoa error back as the error it was", async () => {
    const g = await gateway('tally', ['role:tally'])
    const err = await failure(g.act('role:tally,cmd:deny'))
    expect(err.toJSON()).to.deep.equal({ code: 'FORBIDDEN', message: 'not for you', details: { need: 'tally:admin' } })
    const crash = await failure(g.act('role:tally,cmd:crash'))
    expect(crash.code).to.equal('ACTION_FAILED')
    expect(JSON.stringify(crash.toJSON())).not.to.match(/secret|stack/)
  })

  it('times an act out cleanly inside the function, before Lambda would stop it', async () => {
    const g = await gateway('tally', ['role:tally'])
    const err = await failure(g.act('role:tally,cmd:slow', { ms: 10_000 }, { timeoutMs: 20_000 }))
    expect(err.code).to.equal('TIMEOUT')
    // The function answered (a stoa reply), rather than Lambda's time-out error.
    const last = endpoint.invocations.at(-1)!
    expect(last.result?.ok).to.equal(true)
  })

  it('sends a task as an Event invocation, accepted on 202, run once by the function', async () => {
    const g = await gateway('tally', [], { service: 'tally' })
    const before = endpoint.invocations.length
    await g.send('tally.vote.record', { voter: 'e2e-1' })
    await g.emit('vote.recorded', { voter: 'e2e-1' })
    const mine = endpoint.invocations.slice(before)
    expect(mine.map((i) => i.type)).to.deep.equal(['Event', 'Event'])
    await endpoint.idle()
    const reader = await gateway('tally', ['role:tally'])
    const seen = (await reader.act('role:tally,cmd:seen')) as { tasks: string[]; events: { name: string }[] }
    expect(seen.tasks.filter((t) => t === 'e2e-1')).to.have.length(1)
    expect(seen.events.map((e) => e.name)).to.include('vote.recorded')
  })

  it('reports a failed task to Lambda as a function error, so Lambda retries and dead-letters it', async () => {
    const g = await gateway('tally', [], { service: 'tally' })
    await g.send('tally.vote.record', { voter: 'bad-e2e' })
    await endpoint.idle()
    const last = endpoint.invocations.at(-1)!
    expect(last.result).to.deep.include({ ok: false })
    const error = (last.result as { error: { errorType: string; errorMessage: string; trace: string[] } }).error
    expect(error).to.include({
      errorType: 'StoaError',
      errorMessage: 'INVALID_MESSAGE: voter bad-e2e is not on the roll',
    })
    // The runtime copies the thrown error's stack into the payload: it must hold no file path.
    expect(error.trace).to.deep.equal(['StoaError: INVALID_MESSAGE: voter bad-e2e is not on the roll'])
  })

  it("refuses a task for another service without invoking, when the function's service is known", async () => {
    const g = await gateway('tally', [], { service: 'tally' })
    const before = endpoint.invocations.length
    const err = await failure(g.send('audit.entry.write', {}))
    expect(err.code).to.equal('NOT_FOUND')
    expect(endpoint.invocations.length).to.equal(before)
  })

  it('starts the service once per container and runs one invocation at a time', async () => {
    const g = await gateway('tally', ['role:tally'])
    for (let i = 0; i < 3; i++) expect(await g.act('role:tally,cmd:inits')).to.deep.equal({ inits: 1 })
    // The only container is busy with the slow act: Lambda throttles the second.
    const slow = g.act('role:tally,cmd:slow', { ms: 1500 })
    await waitFor(() => endpoint.invocations.at(-1)?.payload.includes('"slow"') === true, 'the slow act to start')
    const err = await failure(g.act('role:tally,cmd:sum', { left: 1, right: 1 }))
    expect(err.code).to.equal('UNAVAILABLE')
    expect(err.details).to.include({ throttled: true, status: 429 })
    expect(await slow).to.deep.equal({ slept: 1500 })
  })

  it("answers a throttled function (429) with UNAVAILABLE, after the SDK's retries", async () => {
    const g = await gateway('tally', ['role:tally'], { maxAttempts: 2 })
    endpoint.throttle('tally', true)
    try {
      const err = await failure(g.act('role:tally,cmd:sum', { left: 1, right: 1 }))
      expect(err.code).to.equal('UNAVAILABLE')
      expect(err.details).to.include({ awsError: 'TooManyRequestsException', throttled: true })
    } finally {
      endpoint.throttle('tally', false)
    }
  })

  it('answers NOT_FOUND for a function that does not exist', async () => {
    const g = await gateway('no-such-function', ['role:ghost'])
    const err = await failure(g.act('role:ghost,cmd:x'))
    expect(err.code).to.equal('NOT_FOUND')
    expect(err.details).to.include({ awsError: 'ResourceNotFoundException', status: 404 })
  })

  it('answers UNAVAILABLE when the endpoint cannot be reached', async () => {
    const g = await gateway('tally', ['role:tally'], { endpoint: 'http://127.0.0.1:1' })
    const err = await failure(g.act('role:tally,cmd:sum', { left: 1, right: 1 }))
    expect(err.code).to.equal('UNAVAILABLE')
  })

  it("refuses payloads over Lambda's limits before sending: 6 MB for acts, 1 MB for tasks", async () => {
    const g = await gateway('tally', ['role:tally'], { service: 'tally' })
    const before = endpoint.invocations.length
    const big = await failure(g.act('role:tally,cmd:echo', { pad: 'x'.repeat(6 * 1024 * 1024) }))
    expect(big.code).to.equal('PAYLOAD_TOO_LARGE')
    expect(big.details).to.include({ limit: 6 * 1024 * 1024 })
    const task = await failure(g.send('tally.vote.record', { pad: 'x'.repeat(1024 * 1024) }))
    expect(task.code).to.equal('PAYLOAD_TOO_LARGE')
    expect(endpoint.invocations.length).to.equal(before)
  })

  it('calls a function that does not run stoa: its result as it is, its crash as ACTION_FAILED without the stack', async () => {
    const g = await gateway('plain', ['role:plain'])
    expect(await g.act('role:plain,cmd:x', { n: 1 })).to.deep.equal({ got: { role: 'plain', cmd: 'x', n: 1 } })
    const err = await failure(g.act('role:plain,cmd:x', { fail: true }))
    expect(err.code).to.equal('ACTION_FAILED')
    expect(err.details).to.deep.equal({ functionError: 'Unhandled', errorType: 'TypeError' })
    expect(err.message).not.to.include('secret')
  })

  describe('invoked with the SDK alone, as `aws lambda invoke` does', () => {
    let sdk: LambdaClient
    before(() => {
      sdk = new LambdaClient({ ...AWS, maxAttempts: 1 })
    })
    after(() => sdk.destroy())
    const invoke = async (payload: string) => {
      const out = await sdk.send(new InvokeCommand({ FunctionName: 'tally', Payload: payload }))
      return {
        error: out.FunctionError,
        body: JSON.parse(Buffer.from(out.Payload!).toString('utf8')) as Record<string, unknown>,
      }
    }

    it('runs a plain JSON message and returns the bare result', async () => {
      expect(await invoke('{"role":"tally","cmd":"sum","left":4,"right":5}')).to.deep.equal({
        error: undefined,
        body: { answer: 9 },
      })
    })

    it('fails an unknown event shape visibly, and logs it', async () => {
      const out = await invoke('{"Records":[{"eventSource":"aws:s3"}]}')
      expect(out.error).to.equal('Unhandled')
      expect(out.body.errorType).to.equal('StoaError')
      expect(out.body.errorMessage).to.match(/^INVALID_MESSAGE: this function serves /)
      expect(out.body.trace).to.deep.equal([`StoaError: ${out.body.errorMessage}`])
      expect(tally.stderr()).to.include('unknown event shape')
      // The function is still serving.
      expect((await invoke('{"role":"tally","cmd":"sum","left":1,"right":1}')).body).to.deep.equal({ answer: 2 })
    })
  })
})

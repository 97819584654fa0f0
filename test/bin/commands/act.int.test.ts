import { expect } from 'chai'
import { lambdaHandler } from '../../../transports/lambda/index.js'
import service from '../../fixtures/lambda/service.js'
import type { LambdaEndpoint } from '../../helpers/lambda-endpoint.js'
import { inProcessContainer, startLambdaEndpoint } from '../../helpers/lambda-endpoint.js'
import { quietLogger } from '../../helpers/wait.js'
import { run } from '../run.js'

/** The AWS variables the SDK reads for credentials, set for these tests and restored after. */
const AWS_ENV = {
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
}

describe('bin/commands/act --url lambda:', () => {
  let endpoint: LambdaEndpoint
  let handler: ReturnType<typeof lambdaHandler>
  const saved: Record<string, string | undefined> = {}
  before(async () => {
    for (const [k, v] of Object.entries(AWS_ENV)) {
      saved[k] = process.env[k]
      process.env[k] = v
    }
    endpoint = await startLambdaEndpoint()
    handler = lambdaHandler(service.create({ logger: quietLogger() }))
    endpoint.addFunction('tally', [inProcessContainer(handler)])
  })
  after(async () => {
    await endpoint.close()
    await handler.stoa.close()
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  })

  it('runs an action in a Lambda function and prints its result', async () => {
    const r = await run([
      'act',
      '--url',
      `lambda:tally?region=us-east-1&endpoint=${endpoint.url}`,
      'role:tally,cmd:sum',
      'left=1',
      'right=2',
    ])
    expect(r).to.deep.equal({ code: 0, stdout: '{"answer":3}\n', stderr: '' })
    expect(endpoint.invocations.at(-1)?.type).to.equal('RequestResponse')
  })

  it("passes the token and reports the function's stoa error with exit 1", async () => {
    const who = await run([
      'act',
      '--url',
      `lambda:tally?region=us-east-1&endpoint=${endpoint.url}`,
      'role:tally,cmd:whoami',
      '--token',
      'tok.en',
    ])
    expect(JSON.parse(who.stdout)).to.include({ token: 'tok.en', caller: 'cli' })
    const r = await run([
      'act',
      '--url',
      `lambda:tally?region=us-east-1&endpoint=${endpoint.url}`,
      'role:tally,cmd:deny',
    ])
    expect(r).to.deep.equal({ code: 1, stdout: '', stderr: 'FORBIDDEN: not for you\n' })
  })

  it('reports a missing function as NOT_FOUND, exit 1', async () => {
    const r = await run(['act', '--url', `lambda:nope?region=us-east-1&endpoint=${endpoint.url}`, 'role:tally,cmd:sum'])
    expect(r.code).to.equal(1)
    expect(r.stderr).to.equal('NOT_FOUND: no Lambda function nope\n')
  })
})

import { readdirSync, readFileSync } from 'node:fs'
import { expect } from 'chai'
import { StoaError } from '../../actions/index.js'
import { createAmqpTransport } from '../../transports/amqp/index.js'
import { createHttpTransport } from '../../transports/http/index.js'
import { createLambdaTransport } from '../../transports/lambda/index.js'
import { createMemoryBus, createMemoryTransport } from '../../transports/memory/index.js'

/** The error a transport factory throws for these options, or undefined when it accepts them. */
function refusal(make: () => unknown): StoaError | undefined {
  try {
    make()
  } catch (err) {
    return err as StoaError
  }
  return undefined
}

describe('transport options', () => {
  const cases: [string, (extra: object) => unknown][] = [
    ['amqp', (extra) => createAmqpTransport({ url: 'amqp://127.0.0.1', ...extra } as never)],
    ['http', (extra) => createHttpTransport({ port: 0, ...extra } as never)],
    ['memory', (extra) => createMemoryTransport({ bus: createMemoryBus(), ...extra } as never)],
    ['lambda', (extra) => createLambdaTransport({ functionName: 'tally', region: 'eu-west-1', ...extra } as never)],
  ]

  for (const [name, make] of cases) {
    it(`${name}: refuses a misspelt option with INVALID_OPTIONS naming it`, () => {
      expect(refusal(() => make({}))).to.equal(undefined)
      const err = refusal(() => make({ prefecth: 10 }))
      expect(err).to.be.instanceOf(StoaError)
      expect(err!.code).to.equal('INVALID_OPTIONS')
      expect(err!.message).to.equal(`${name} transport: option "prefecth": is not an option`)
      expect(err!.details).to.deep.equal({ transport: name, fields: ['prefecth'] })
    })
  }

  it('memory: refuses a bus that is not one', () => {
    const err = refusal(() => createMemoryTransport({ bus: {} as never }))
    expect(err!.code).to.equal('INVALID_OPTIONS')
    expect(err!.details).to.deep.equal({ transport: 'memory', fields: ['bus'] })
  })

  it('every transport declares its options in options.ts through the shared resolver', () => {
    const dir = new URL('../../transports/', import.meta.url)
    for (const t of readdirSync(dir)) {
      const text = readFileSync(new URL(`${t}/options.ts`, dir), 'utf8')
      expect(text, t).to.match(/z\.strictObject\(/)
      expect(text, t).to.include('resolveTransportOptions(')
    }
  })
})

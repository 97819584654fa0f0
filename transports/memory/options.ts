import { z } from 'zod'
import { resolveTransportOptions } from '../../actions/transport.js'
import { MemoryBus } from './bus.js'

/** Options of the memory transport. */
export const memoryOptions = z.strictObject({
  /** The bus shared by the instances that talk to each other; no default: never a global. */
  bus: z.custom<MemoryBus>((v) => v instanceof MemoryBus, 'must be a bus made by createMemoryBus()'),
})

/** What `createMemoryTransport` accepts. */
export type MemoryOptions = z.input<typeof memoryOptions>

/** The options once validated. */
export type ResolvedMemoryOptions = Readonly<z.output<typeof memoryOptions>>

/** Validates options, naming every failing option in an `INVALID_OPTIONS` error. */
export function resolveMemoryOptions(input: MemoryOptions | undefined): ResolvedMemoryOptions {
  return resolveTransportOptions('memory', memoryOptions, input)
}

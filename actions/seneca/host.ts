import type { ActionLike } from '../action.js'
import type { CallOptions } from '../context.js'
import type { Logger } from '../logger.js'
import type { Message } from '../pattern.js'
import type { CloseHook } from '../plugin.js'

/** A Seneca plugin: its definition function, called with the plugin's options. */
export type SenecaPlugin = (this: any, options: any) => unknown

/**
 * The part of a stoa instance the Seneca layer reaches: its public API, nothing more. Declared
 * apart so that no file of the Seneca layer imports the kernel for it; a `Stoa` instance is one.
 */
export interface SenecaHost {
  readonly log: Logger
  add(pattern: string | Message, action: ActionLike): unknown
  act(pattern: Message, extra?: Message, opts?: CallOptions): Promise<unknown>
  has(pattern: string | Message): boolean
  find(
    pattern: string | Message,
  ): { readonly key: string; readonly plugin: string | undefined; readonly transport: string | undefined } | undefined
  list(
    pattern?: string | Message,
  ): readonly { readonly pattern: Readonly<Message>; readonly transport: string | undefined }[]
  ready(): Promise<unknown>
  use(plugin: SenecaPlugin, options?: Record<string, unknown>): unknown
  onClose(hook: CloseHook): unknown
}

/**
 * The settings of the stoa instance that Seneca has an equivalent of, mirrored into the bridge's
 * Seneca options so that a plugin reading `seneca.options()` sees the instance it runs in.
 */
export interface SenecaSettings {
  /** The service's name: Seneca's instance `tag`. */
  readonly name: string
  /** The default time limit of a call: Seneca's `timeout`. */
  readonly timeoutMs: number
}

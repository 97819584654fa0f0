import type { ActionLike } from './action.js'
import type { CallOptions } from './context.js'
import type { Logger } from './logger.js'
import type { Message } from './pattern.js'
import type { CloseHook, PluginInfo } from './plugin.js'

/** A Seneca plugin: its definition function, called with the plugin's options. */
export type SenecaPlugin = (this: any, options: any) => unknown

/**
 * What the Seneca layer needs from a kernel: loading and naming plugins, registering and
 * calling actions, and the instance's lifecycle. Declared apart so that
 * neither the Seneca layer nor its bridge imports the kernel, or each other, for it.
 */
export interface SenecaHost {
  readonly log: Logger
  /** Reserves a plugin's full name (`name` or `name$tag`); throws if it is taken. */
  claimPlugin(name: string, tag: string | undefined): PluginInfo
  /** Records a loaded plugin and queues its start for `ready()`. */
  addPlugin(info: PluginInfo, init: (() => Promise<void | CloseHook>) | undefined): void
  /** Runs `fn` with the actions it adds attributed to plugin `name`. */
  withPlugin<R>(name: string, fn: () => R): R
  add(pattern: string | Message, action: ActionLike): unknown
  act(pattern: Message, extra?: Message, opts?: CallOptions): Promise<unknown>
  has(pattern: string | Message): boolean
  find(pattern: string | Message): { readonly key: string; readonly plugin: string | undefined; readonly transport: string | undefined } | undefined
  list(pattern?: string | Message): readonly { readonly pattern: Readonly<Message>; readonly transport: string | undefined }[]
  ready(): Promise<unknown>
  use(plugin: SenecaPlugin, options?: Record<string, unknown>): unknown
  onClose(hook: CloseHook): unknown
}


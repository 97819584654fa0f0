/*
 * The Seneca layer: runs callback-style Seneca plugins unchanged, on one of two engines. The
 * delegate (delegate.ts) gives the part of Seneca's plugin API that Seneca's guides use, over
 * the kernel, at stoa's speed; the bridge (bridge.ts) loads the plugin into a real Seneca
 * instance. This file is the layer's one door: the kernel imports nothing else from this folder,
 * and Seneca's conventions stay inside it.
 */

import { StoaError } from '../errors.js'
import type { Message } from '../pattern.js'
import type { PluginLoader, UseOptions } from '../plugin.js'
import type * as Bridge from './bridge.js'
import type * as Delegate from './delegate.js'
import type { SenecaHost, SenecaPlugin, SenecaSettings } from './host.js'
import type * as Scan from './scan.js'

export type { SenecaHost, SenecaPlugin, SenecaSettings } from './host.js'

/**
 * The engine that runs a Seneca plugin: `'stoa'`, the delegate over the kernel (Seneca's guide
 * API, at stoa's speed, no Seneca needed); `'seneca'`, a real Seneca instance (all of Seneca 3).
 */
export type SenecaEngine = 'stoa' | 'seneca'

/**
 * How a Seneca plugin function is loaded: a tag, and the engine that runs it.
 *
 * @example
 * stoa.use(require('./legacy.js'), { limit: 10 }, { engine: 'seneca' })
 */
export interface SenecaUseOptions extends UseOptions {
  /**
   * The engine that runs the plugin. Without it, the plugin's source chooses: a plugin that
   * names only Seneca's guide API runs on `'stoa'`, any other on `'seneca'`; the choice is
   * logged (level info, with the APIs that made it).
   */
  engine?: SenecaEngine
}

const ENGINES: readonly unknown[] = ['stoa', 'seneca'] satisfies SenecaEngine[]

/** The key of an instance's Seneca layer state in its plugin loader. */
const LAYER = Symbol('seneca layer')

/** What the layer keeps per instance: how many unnamed plugins it has named. */
interface LayerState {
  anonymous: number
}

/** Plugins marked with {@link onSeneca}: a mark on the function, not per-instance state. */
const marked = new WeakSet<SenecaPlugin>()

/**
 * Marks a Seneca plugin to run on real Seneca even though the built-in delegate could run it:
 * its actions then follow Seneca's own rules, such as Seneca's precedence among glob patterns.
 * Needs `seneca` installed.
 *
 * @example
 * stoa.use(onSeneca(require('./legacy-router.js')))
 */
export function onSeneca<P extends SenecaPlugin>(plugin: P): P {
  marked.add(plugin)
  return plugin
}

/**
 * Runs a Seneca plugin unchanged, on the engine `use.engine` names; a plugin marked with
 * {@link onSeneca} runs on real Seneca. Otherwise the plugin's source chooses (see scan.ts): a
 * plugin written as Seneca's guides write them (`this.add`, `this.act`, `this.prior`,
 * `this.wrap`, nested `this.use`, an `init:<name>` action) runs on the delegate; one reaching
 * for more of Seneca (`this.util`, `this.make$`, `this.export`, `preload`, `defaults`, ...) is
 * loaded into the instance's real Seneca, whose patterns the kernel then routes to; without
 * `seneca` installed that fails here, naming why the plugin needs it. `settings` are the
 * instance's, mirrored into the bridge's Seneca options.
 */
export function runSenecaPlugin(
  host: SenecaHost,
  loader: PluginLoader,
  plugin: SenecaPlugin,
  options: Message,
  use: SenecaUseOptions | undefined,
  settings: SenecaSettings,
): void {
  const layer = loader.state<LayerState>(LAYER, () => ({ anonymous: 0 }))
  const name = plugin.name !== '' ? plugin.name : `plugin${++layer.anonymous}`
  const choice = chooseEngine(host, plugin, name, use?.engine)
  if (choice.engine === 'seneca')
    (require('./bridge.js') as typeof Bridge).loadSenecaPlugin(
      host,
      loader,
      settings,
      plugin,
      name,
      choice,
      options,
      use?.tag,
    )
  else (require('./delegate.js') as typeof Delegate).runOnDelegate(host, loader, plugin, name, options, use?.tag)
}

/**
 * The engines and the source scan are required with the first Seneca plugin an instance
 * loads, not with the kernel: a service of `definePlugin` plugins (a `stoa act` of one) never
 * needs them, and they are a tenth of the kernel's files.
 */
function require(specifier: string): unknown {
  localRequire ??= process.getBuiltinModule('node:module').createRequire(import.meta.url)
  return localRequire(specifier)
}

let localRequire: NodeJS.Require | undefined

/** An engine, and what to say when it cannot run: why the plugin was sent there. */
interface EngineChoice {
  readonly engine: SenecaEngine
  /** Why this engine: `it uses util, export`, `it is marked with onSeneca`. */
  readonly reason: string
  /** The Seneca APIs the source scan found beyond the delegate's. */
  readonly needs: readonly string[]
}

/**
 * The engine a plugin runs on: the one the application named, else the one `onSeneca` marked,
 * else the source scan's. The scan never overrides a choice; it only warns when the chosen
 * engine lacks an API the source names, and its own choice is logged so it can be made explicit.
 */
function chooseEngine(
  host: SenecaHost,
  plugin: SenecaPlugin,
  name: string,
  engine: SenecaEngine | undefined,
): EngineChoice {
  const isMarked = marked.has(plugin)
  if (engine !== undefined && !ENGINES.includes(engine)) {
    throw new StoaError(
      'INVALID_OPTIONS',
      `plugin "${name}": use() option "engine" must be 'stoa' or 'seneca', not ${JSON.stringify(engine)}`,
      { plugin: name, fields: ['engine'] },
    )
  }
  if (engine === 'stoa' && isMarked) {
    throw new StoaError(
      'INVALID_PLUGIN',
      `plugin "${name}" is marked with onSeneca, which asks for real Seneca, but loaded with { engine: 'stoa' }`,
      { plugin: name },
    )
  }
  const needs = (require('./scan.js') as typeof Scan).senecaApisBeyondDelegate(plugin)
  if (engine === 'seneca') return { engine, reason: "it is loaded with { engine: 'seneca' }", needs }
  if (isMarked) return { engine: 'seneca', reason: 'it is marked with onSeneca', needs }
  if (engine === 'stoa') {
    if (needs.length > 0) {
      host.log.warn(
        { plugin: name, engine, uses: needs },
        "seneca plugin on stoa's engine names Seneca APIs that engine lacks; calls to them will fail",
      )
    }
    return { engine, reason: '', needs }
  }
  const chosen: SenecaEngine = needs.length > 0 ? 'seneca' : 'stoa'
  host.log.info(
    { plugin: name, engine: chosen, uses: needs },
    'seneca plugin engine chosen from its source; pass { engine } to use() to choose it',
  )
  return { engine: chosen, reason: `it uses ${needs.join(', ')}`, needs }
}

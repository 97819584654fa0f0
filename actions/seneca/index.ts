/*
 * The Seneca layer: runs callback-style Seneca plugins unchanged, on one of two engines. The
 * delegate (delegate.ts) gives the part of Seneca's plugin API that Seneca's guides use, over
 * the kernel, at stoa's speed; the bridge (bridge.ts) loads the plugin into a real Seneca
 * instance. This file is the layer's one door: the kernel imports nothing else from this folder,
 * and Seneca's conventions stay inside it.
 */

import type { Message } from '../pattern.js'
import type { PluginLoader } from '../plugin.js'
import { loadSenecaPlugin } from './bridge.js'
import { runOnDelegate } from './delegate.js'
import type { SenecaHost, SenecaPlugin } from './host.js'
import { senecaApisBeyondDelegate } from './scan.js'

export type { SenecaHost, SenecaPlugin } from './host.js'

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
 * Runs a Seneca plugin unchanged. A plugin written as Seneca's guides write them (`this.add`,
 * `this.act`, `this.prior`, `this.wrap`, nested `this.use`, an `init:<name>` action) runs on a
 * small delegate over the kernel. A plugin that reaches for more of Seneca (`this.util`,
 * `this.make$`, `this.export`, `preload`, `defaults`, ...) is loaded into a real Seneca
 * instance, shared by the kernel's Seneca plugins, whose patterns the kernel then routes to;
 * without `seneca` installed that fails here, naming the API the plugin needs.
 */
export function runSenecaPlugin(
  host: SenecaHost,
  loader: PluginLoader,
  plugin: SenecaPlugin,
  options: Message,
  tag: string | undefined,
): void {
  const layer = loader.state<LayerState>(LAYER, () => ({ anonymous: 0 }))
  const name = plugin.name !== '' ? plugin.name : `plugin${++layer.anonymous}`
  const needs = marked.has(plugin) ? ['onSeneca'] : senecaApisBeyondDelegate(plugin)
  if (needs.length > 0) loadSenecaPlugin(host, loader, plugin, name, needs, options, tag)
  else runOnDelegate(host, loader, plugin, name, options, tag)
}

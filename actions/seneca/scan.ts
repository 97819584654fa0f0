import { DELEGATE_API } from './delegate.js'
import type { SenecaPlugin } from './host.js'

/*
 * The source scan: what a Seneca plugin's code shows of the Seneca API it uses. When the
 * application does not say which engine runs a plugin, the scan's answer chooses (and the
 * choice is logged); when it does, the scan only warns about what the chosen engine lacks.
 */

/** Own properties every function has; any other one (`preload`, `defaults`) is for Seneca. */
export const FUNCTION_PROPS: ReadonlySet<string> = new Set(['length', 'name', 'prototype', 'arguments', 'caller'])

/**
 * The Seneca APIs a plugin uses that the delegate lacks, read from its source: members of
 * `this`, of `seneca`, and of any variable assigned `this` (`var self = this`), including
 * destructured ones; plus properties Seneca reads off the plugin function (`preload`,
 * `defaults`), exports in its returned definition, loading plugins by name, the instance
 * handed to other functions, and any `name$` (directives, entity methods). Reading too much
 * only costs speed (the plugin then runs on real Seneca), never a wrong answer. What a source
 * scan cannot see (a helper module handed the instance, `this[name]`) is listed in
 * docs/seneca.md.
 */
export function senecaApisBeyondDelegate(plugin: SenecaPlugin): string[] {
  const found = new Set<string>()
  for (const prop of Object.getOwnPropertyNames(plugin)) if (!FUNCTION_PROPS.has(prop)) found.add(prop)
  const src = Function.prototype.toString.call(plugin)
  const aliases = new Set(['this', 'seneca'])
  for (const m of src.matchAll(/\b(?:var|let|const)?\s*([A-Za-z_$][\w$]*)\s*=\s*this\b/g)) aliases.add(m[1]!)
  const names = [...aliases].map((a) => a.replace(/\$/g, '\\$')).join('|')
  const member = new RegExp(
    `(?<![\\w$.])(?:${names})\\s*\\??\\.\\s*([A-Za-z_$][\\w$]*)|(?<![\\w$.])(?:${names})\\s*\\[\\s*['"\`]([^'"\`]+)['"\`]\\s*\\]`,
    'g',
  )
  for (const m of src.matchAll(member)) {
    const api = m[1] ?? m[2]!
    if (!DELEGATE_API.has(api)) found.add(api)
  }
  const destructured = new RegExp(`\\{([^{}]*)\\}\\s*=\\s*(?:${names})\\b`, 'g')
  for (const m of src.matchAll(destructured)) {
    for (const part of m[1]!.split(',')) {
      const api = part.split(':')[0]!.trim()
      if (api !== '' && !DELEGATE_API.has(api)) found.add(api)
    }
  }
  // The instance handed to other code (`register(this)`, `helper(seneca, opts)`): what that
  // code uses cannot be read from here, so the plugin runs where everything is there.
  if (new RegExp(`[(,]\\s*(?:${names})\\s*[,)]`).test(src)) found.add('this passed to a function')
  // A plugin loaded by name is found by Seneca's own module resolution.
  if (new RegExp(`(?<![\\w$.])(?:${names})\\s*\\.\\s*use\\s*\\(\\s*['"\`]`).test(src)) found.add('use(name)')
  if (/\bexportmap\b|\bexport\s*:/.test(src)) found.add('export')
  // Seneca's directives (`default$`, `timeout$`, `custom$`) and entity methods (`save$`) mean
  // nothing to the kernel.
  for (const m of src.matchAll(/(?<![\w$])([A-Za-z_][\w]*\$)(?![\w$])/g)) found.add(m[1]!)
  return [...found]
}

import { readdirSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/**
 * `npm run bench` runs every suite (a folder of bench/ with an index.ts); `npm run bench --
 * <suite>` runs one. Each suite runs stoa and its peers in the same run and ends with one
 * JSON line of ratios.
 */
const dir = fileURLToPath(new URL('.', import.meta.url))
const all = readdirSync(dir)
  .filter((d) => statSync(dir + d).isDirectory() && readdirSync(dir + d).includes('index.ts'))
  .sort()
const wanted = process.argv.slice(2)
const unknown = wanted.filter((w) => !all.includes(w))
if (unknown.length > 0) {
  console.error(`unknown suite ${unknown.join(', ')}; suites: ${all.join(', ')}`)
  process.exit(2)
}
for (const suite of wanted.length > 0 ? wanted : all) {
  console.log(`# ${suite}`)
  const mod = (await import(`./${suite}/index.ts`)) as { default: () => Promise<void> }
  await mod.default()
}

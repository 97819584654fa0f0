// Loads one handler module in this fresh process and prints how long its init took, ms: the
// import, and for stoa the service's start (what Lambda's init phase runs once per container).
import { pathToFileURL } from 'node:url'
import { resolve } from 'node:path'

const t0 = performance.now()
const mod = await import(pathToFileURL(resolve(process.argv[2])).href)
if (typeof mod.handler.ready === 'function') await mod.handler.ready()
process.stdout.write(`${performance.now() - t0}\n`)

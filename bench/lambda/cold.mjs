// One cold start in this fresh process: imports one handler module and answers one event
// (argv[3], JSON) with it, as Lambda's init phase and first invocation do, then prints the
// milliseconds from the import to the answer, and the process's CPU milliseconds by then
// (node's own start included, the same for every contestant).
import { pathToFileURL } from 'node:url'
import { resolve } from 'node:path'

const event = JSON.parse(process.argv[3])
const context = { awsRequestId: 'cold', functionName: 'votes', getRemainingTimeInMillis: () => 3000 }
const t0 = performance.now()
const { handler } = await import(pathToFileURL(resolve(process.argv[2])).href)
const answer = await handler(event, context)
const ms = performance.now() - t0
if (answer.statusCode !== 202) throw new Error(`answered ${JSON.stringify(answer)}`)
const cpu = process.cpuUsage()
process.stdout.write(`${ms} ${(cpu.user + cpu.system) / 1000}\n`)

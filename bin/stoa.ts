#!/usr/bin/env node
/**
 * The `stoa` command. The one place that touches the process: arguments, streams, environment,
 * signals and the exit code. Everything else is `main`, which tests run in process.
 */
import type { Io } from './io.js'
import { main } from './main.js'

let stop: AbortController | undefined

const io: Io = {
  stdout: process.stdout,
  stderr: process.stderr,
  // A getter: creating process.stdin (a socket when stdin is a pipe) is a large part of a
  // short command's start, and only a message read from stdin (`-`) needs it.
  get stdin() {
    return process.stdin
  },
  env: process.env,
  cwd: process.cwd(),
  stopSignal() {
    if (stop === undefined) {
      const controller = (stop = new AbortController())
      // The first signal asks for a graceful close; a second one means "now".
      const onSignal = (signal: NodeJS.Signals) => {
        if (controller.signal.aborted) process.exit(1)
        controller.abort(signal)
      }
      process.on('SIGTERM', onSignal)
      process.on('SIGINT', onSignal)
    }
    return stop.signal
  },
}

const code = await main(process.argv.slice(2), io)
// Exit once stdout has taken the result, rather than wait for handles a service module may
// have left open: a step job that printed its answer is done.
process.stdout.write('', () => process.exit(code))

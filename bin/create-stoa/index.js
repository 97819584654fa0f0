#!/usr/bin/env node
// @ts-check
/**
 * `npm create stoa <name> [-- --kind worker|gateway|step] [--dir <folder>]`: runs `stoa new`
 * of the stoa this package depends on, with the same arguments, and exits as it does. The new
 * project depends on that stoa's version.
 */
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const require = createRequire(import.meta.url)
// stoa exports its package.json, not its CLI file: the CLI is found from the manifest's bin.
const manifest = require.resolve('stoa/package.json')
/** @type {{ bin: string | Record<string, string> }} */
const { bin } = require('stoa/package.json')
const cli = join(dirname(manifest), typeof bin === 'string' ? bin : bin.stoa)
const r = spawnSync(process.execPath, [cli, 'new', ...process.argv.slice(2)], { stdio: 'inherit' })
if (r.signal !== null) process.kill(process.pid, r.signal)
process.exit(r.status ?? 1)

// The same act without the CLI: import the kernel, load the plugin, act once, print, exit.
import { createStoa } from '../../dist/actions/index.js'
import math from './service.mjs'

const stoa = createStoa({ name: 'math' }).use(math)
process.stdout.write(JSON.stringify(await stoa.act('role:math,cmd:sum', { left: 1, right: 2 })) + '\n')

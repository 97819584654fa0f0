// The service `stoa act` starts in the cold-start benchmark: one plugin, one action, in plain
// JavaScript, so the figure is the CLI's and the kernel's, not a compiler's.
import { definePlugin } from '../../dist/actions/index.js'

export default definePlugin({
  name: 'math',
  actions: { 'role:math,cmd:sum': (msg) => ({ answer: msg.left + msg.right }) },
})

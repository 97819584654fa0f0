// The same service written in TypeScript: `stoa act` compiles it with tsx as it loads.
import type { Message } from '../../actions/index.js'
import { definePlugin } from '../../actions/index.js'

export default definePlugin({
  name: 'math',
  actions: { 'role:math,cmd:sum': (msg: Message) => ({ answer: Number(msg.left) + Number(msg.right) }) },
})

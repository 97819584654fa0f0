// The peer: a Seneca script that adds one action, acts once, prints and exits.
const seneca = require('seneca')({ log: 'silent' })
seneca.add('role:math,cmd:sum', (msg, reply) => reply(null, { answer: msg.left + msg.right }))
seneca.act('role:math,cmd:sum,left:1,right:2', (err, out) => {
  if (err) throw err
  process.stdout.write(JSON.stringify({ answer: out.answer }) + '\n')
  process.exit(0)
})

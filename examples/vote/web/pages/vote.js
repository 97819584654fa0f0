// The voting page: log in by name (the token comes back as an HttpOnly cookie, which the
// browser sends with every same-origin request), then vote. The API calls go through api.js,
// the client `npm run vote:client` generates from the gateway's and auth's contracts.
import { createClient } from '/assets/api.js'

const api = createClient()
const $ = (id) => document.getElementById(id)
const status = (text) => { $('status').textContent = text }

function show() {
  const name = sessionStorage.getItem('voter')
  $('login').hidden = name !== null
  $('ballot').hidden = name === null
  $('voter').textContent = name ?? ''
}

/** A call whose failure reads `CODE: message`, as the page shows it. */
async function call(name, msg) {
  try {
    return await api.call(name, msg)
  } catch (err) {
    throw new Error(err.code === undefined ? err.message : `${err.code}: ${err.message}`)
  }
}

$('login').addEventListener('submit', async (event) => {
  event.preventDefault()
  try {
    const out = await call('auth.login', { name: $('name').value })
    sessionStorage.setItem('voter', out.sub)
    status('')
    show()
  } catch (err) {
    status(`Login failed: ${err.message}`)
  }
})

for (const button of document.querySelectorAll('.choice')) {
  button.addEventListener('click', async () => {
    try {
      const out = await call('vote.cast', { choice: button.dataset.choice })
      status(`Vote for ${button.dataset.choice} accepted (${out.voteId}).`)
    } catch (err) {
      if (err.message.startsWith('UNAUTHENTICATED')) {
        sessionStorage.removeItem('voter')
        show()
      }
      status(`Vote refused: ${err.message}`)
    }
  })
}

show()

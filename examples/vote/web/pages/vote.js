// The voting page: log in by name (the token is kept for this tab only), then vote.
'use strict'
const $ = (id) => document.getElementById(id)
const status = (text) => { $('status').textContent = text }
let token = sessionStorage.getItem('token')

function show() {
  const name = sessionStorage.getItem('voter')
  $('login').hidden = token !== null
  $('ballot').hidden = token === null
  $('voter').textContent = name ?? ''
}

async function post(path, body) {
  const headers = { 'content-type': 'application/json' }
  if (token !== null) headers.authorization = `Bearer ${token}`
  const res = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body) })
  const data = await res.json().catch(() => ({}))
  if (!res.ok) throw new Error(data.error ? `${data.error.code}: ${data.error.message}` : `HTTP ${res.status}`)
  return data
}

$('login').addEventListener('submit', async (event) => {
  event.preventDefault()
  try {
    const out = await post('/api/login', { name: $('name').value })
    token = out.token
    sessionStorage.setItem('token', out.token)
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
      const out = await post('/api/votes', { choice: button.dataset.choice })
      status(`Vote for ${button.dataset.choice} accepted (${out.voteId}).`)
    } catch (err) {
      if (err.message.startsWith('UNAUTHENTICATED')) {
        token = null
        sessionStorage.clear()
        show()
      }
      status(`Vote refused: ${err.message}`)
    }
  })
}

show()

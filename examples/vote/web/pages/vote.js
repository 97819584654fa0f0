// The voting page: log in by name (the token comes back as an HttpOnly cookie, which the
// browser sends with every same-origin request), then vote.
'use strict'
const $ = (id) => document.getElementById(id)
const status = (text) => { $('status').textContent = text }

function show() {
  const name = sessionStorage.getItem('voter')
  $('login').hidden = name !== null
  $('ballot').hidden = name === null
  $('voter').textContent = name ?? ''
}

async function post(path, body) {
  const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const data = await res.json().catch(() => ({}))
  if (!res.ok) throw new Error(data.error ? `${data.error.code}: ${data.error.message}` : `HTTP ${res.status}`)
  return data
}

$('login').addEventListener('submit', async (event) => {
  event.preventDefault()
  try {
    const out = await post('/api/login', { name: $('name').value })
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
        sessionStorage.removeItem('voter')
        show()
      }
      status(`Vote refused: ${err.message}`)
    }
  })
}

show()

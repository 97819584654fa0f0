// The results page: counts pushed by the gateway as server-sent events.
'use strict'
const $ = (id) => document.getElementById(id)
const source = new EventSource('/api/results/stream')
source.addEventListener('message', (event) => {
  const r = JSON.parse(event.data)
  for (const key of ['cats', 'dogs', 'total', 'duplicates']) $(key).textContent = String(r[key])
  const max = Math.max(r.total, 1)
  $('cats-bar').max = max
  $('cats-bar').value = r.cats
  $('dogs-bar').max = max
  $('dogs-bar').value = r.dogs
  $('live').textContent = `live, updated ${new Date().toLocaleTimeString()}`
})
source.addEventListener('error', () => { $('live').textContent = 'reconnecting…' })

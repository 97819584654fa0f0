// The results page: every committed vote is pushed by the gateway as a server-sent event
// (vote.recorded), and the page then reads the counts. No polling.
'use strict'
const $ = (id) => document.getElementById(id)

function show(r) {
  for (const key of ['cats', 'dogs', 'total', 'duplicates']) $(key).textContent = String(r[key])
  const max = Math.max(r.total, 1)
  $('cats-bar').max = max
  $('cats-bar').value = r.cats
  $('dogs-bar').max = max
  $('dogs-bar').value = r.dogs
  $('live').textContent = `live, updated ${new Date().toLocaleTimeString()}`
}

// One read at a time; an event during a read asks for one more after it. A last read follows
// each burst after 300 ms, past the results service's 200 ms cache, so the final counts show
// even when a read met an answer cached just before the last commit.
let reading = false
let again = false
let trailing
async function refresh() {
  if (reading) {
    again = true
    return
  }
  reading = true
  try {
    const res = await fetch('/api/results', { cache: 'no-store' })
    if (res.ok) show(await res.json())
  } catch {
    // The gateway is away for now: keep the last counts; the stream reconnects by itself.
  } finally {
    reading = false
    if (again) {
      again = false
      void refresh()
    }
  }
}
function changed() {
  void refresh()
  clearTimeout(trailing)
  trailing = setTimeout(() => void refresh(), 300)
}

const source = new EventSource('/api/results/stream')
source.addEventListener('open', () => changed())
source.addEventListener('vote.recorded', () => changed())
source.addEventListener('error', () => {
  $('live').textContent = 'reconnecting…'
})

/*
 * The reference page of `GET /docs`: one HTML page, one script and one stylesheet, all served
 * from the service itself under a strict Content-Security-Policy (no inline script or style,
 * nothing from another origin), as the vote pages are. The script reads `/openapi.json`, lists
 * each operation with its parameters, body and answers, and sends a request from a form.
 * Kept as strings so that the built package serves them without files beside its code.
 */

/** The policy every reference asset is served with. */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ')

/** The page, with its asset paths under `base` (`/docs`). */
export function referenceHtml(base: string, openapi: string): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>API reference</title>
  <link rel="stylesheet" href="${base}/reference.css">
  <script type="module" src="${base}/reference.js"></script>
</head>
<body data-openapi="${openapi}">
  <header>
    <h1 id="title">API reference</h1>
    <label>Bearer token <input id="token" type="text" autocomplete="off" placeholder="optional: Authorization: Bearer ..."></label>
  </header>
  <main id="operations"><p>Loading ${openapi}...</p></main>
</body>
</html>
`
}

export const REFERENCE_CSS = `body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1d1d1f; background: #fafafa; }
header { padding: 1rem 2rem; background: #fff; border-bottom: 1px solid #ddd; display: flex; gap: 2rem; align-items: center; flex-wrap: wrap; }
header h1 { font-size: 1.3rem; margin: 0; }
header input { width: 28rem; max-width: 80vw; }
main { padding: 1rem 2rem; max-width: 70rem; }
section.op { background: #fff; border: 1px solid #ddd; border-radius: 6px; margin: 0 0 1rem; padding: .8rem 1rem; }
.method { font-weight: 700; text-transform: uppercase; margin-right: .6rem; }
code, pre, textarea { font: 13px/1.4 ui-monospace, monospace; }
pre { background: #f3f3f3; padding: .6rem; overflow: auto; max-height: 20rem; }
textarea { width: 100%; min-height: 5rem; box-sizing: border-box; }
.answers li { margin: .1rem 0; }
.field { display: block; margin: .3rem 0; }
.result { margin-top: .6rem; }
`

export const REFERENCE_JS = `// The reference page: every operation of the OpenAPI document, and a form to call it.
const $ = (tag, attrs = {}, ...kids) => {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') el.textContent = v
    else el.setAttribute(k, v)
  }
  for (const kid of kids) el.append(kid)
  return el
}

function example(schema) {
  if (!schema || typeof schema !== 'object') return {}
  if (Array.isArray(schema.enum)) return schema.enum[0]
  if ('const' in schema) return schema.const
  if (schema.type === 'object') {
    const out = {}
    for (const [k, s] of Object.entries(schema.properties || {})) if ((schema.required || []).includes(k)) out[k] = example(s)
    return out
  }
  if (schema.type === 'array') return []
  if (schema.type === 'string') return ''
  if (schema.type === 'number' || schema.type === 'integer') return 0
  if (schema.type === 'boolean') return false
  return null
}

function operation(path, method, op) {
  const id = op.operationId
  const section = $('section', { class: 'op', id: 'op-' + id })
  section.append($('h2', {}, $('span', { class: 'method', text: method }), $('code', { text: path })))
  section.append($('p', { text: (op.summary || '') + (op['x-stoa-permission'] ? ' (needs ' + op['x-stoa-permission'] + ')' : '') }))
  const params = op.parameters || []
  const inputs = {}
  for (const p of params) {
    const input = $('input', { name: p.name, 'data-in': p.in })
    inputs[p.name] = input
    section.append($('label', { class: 'field' }, p.in + ' ' + p.name + (p.required ? ' *' : '') + ' ', input))
  }
  let body
  const schema = op.requestBody && op.requestBody.content['application/json'].schema
  if (schema) {
    body = $('textarea', { name: 'body', 'aria-label': 'request body of ' + id })
    body.value = JSON.stringify(example(schema), null, 2)
    section.append($('label', { class: 'field' }, 'JSON body', body))
  }
  const answers = $('ul', { class: 'answers' })
  for (const [status, r] of Object.entries(op.responses || {})) answers.append($('li', {}, $('code', { text: status }), ' ' + (r.description || '')))
  section.append(answers)
  const out = $('pre', { class: 'result', 'aria-label': 'answer of ' + id })
  const send = $('button', { type: 'button', text: 'Send', 'data-op': id })
  send.addEventListener('click', async () => {
    let url = path
    const query = new URLSearchParams()
    for (const p of params) {
      const v = inputs[p.name].value
      if (p.in === 'path') url = url.replace('{' + p.name + '}', encodeURIComponent(v))
      else if (v !== '') query.set(p.name, v)
    }
    if ([...query].length > 0) url += '?' + query
    const headers = {}
    const token = document.getElementById('token').value.trim()
    if (token !== '') headers.authorization = 'Bearer ' + token
    if (body) headers['content-type'] = 'application/json'
    out.textContent = '...'
    try {
      const res = await fetch(url, { method: method.toUpperCase(), headers, body: body ? body.value : undefined, credentials: 'same-origin' })
      const text = await res.text()
      let shown = text
      try { shown = JSON.stringify(JSON.parse(text), null, 2) } catch {}
      out.textContent = res.status + ' ' + res.statusText + '\\n' + shown
      out.dataset.status = String(res.status)
    } catch (err) {
      out.textContent = 'request failed: ' + err.message
    }
  })
  section.append(send, out)
  return section
}

async function main() {
  const main = document.getElementById('operations')
  const res = await fetch(document.body.dataset.openapi)
  const doc = await res.json()
  document.getElementById('title').textContent = doc.info.title + ' ' + doc.info.version
  document.title = doc.info.title + ' API reference'
  main.replaceChildren()
  for (const [path, ops] of Object.entries(doc.paths || {}))
    for (const [method, op] of Object.entries(ops)) main.append(operation(path, method, op))
}

main()
`

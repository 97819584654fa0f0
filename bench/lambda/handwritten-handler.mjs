// The reference: a handler written by hand for the same route, with no framework, doing what
// the route needs and no more: match method and path, check the media type, parse the body,
// answer 202 with JSON, 404/415/400 otherwise.
const ROUTE = /^\/votes\/([^/]+)\/?$/
const JSON_MEDIA = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i

function answer(statusCode, value) {
  return { statusCode, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(value), isBase64Encoded: false }
}

export const handler = async (event) => {
  const m = event.requestContext.http.method === 'POST' ? ROUTE.exec(event.rawPath) : null
  if (m === null) return answer(404, { error: { code: 'NOT_FOUND', message: 'no route' } })
  if (!JSON_MEDIA.test(event.headers['content-type'] ?? '')) return answer(415, { error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'JSON only' } })
  let body
  try {
    body = JSON.parse(event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body)
  } catch {
    return answer(400, { error: { code: 'INVALID_JSON', message: 'the request body is not valid JSON' } })
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return answer(400, { error: { code: 'INVALID_MESSAGE', message: 'the body must be an object' } })
  return answer(202, { accepted: true, id: decodeURIComponent(m[1]), choice: body.choice })
}

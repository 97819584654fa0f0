// The serverless-express contestant: the same route on express, through
// @codegenie/serverless-express (the package @vendia/serverless-express became, the most used
// way to run a web framework on Lambda; pinned to 4.x, the last line that runs on Node 20), in
// express's usual way: express.json() for the body, which answers 400 for a body that is not
// JSON, and the route refusing other media types and bodies that are not objects.
import serverlessExpress from '@codegenie/serverless-express'
import express from 'express'

const app = express()
app.post('/votes/:id', express.json(), (req, res) => {
  if (!req.is('application/json')) {
    res.status(415).json({ error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'JSON only' } })
    return
  }
  const body = req.body
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    res.status(400).json({ error: { code: 'INVALID_MESSAGE', message: 'the body must be an object' } })
    return
  }
  res.status(202).json({ accepted: true, id: req.params.id, choice: body.choice })
})
// body-parser's refusal of a body that is not JSON, answered as JSON like the others.
app.use((err, _req, res, _next) => {
  res.status(err.status ?? 500).json({ error: { code: 'INVALID_JSON', message: 'the request body is not valid JSON' } })
})

export const handler = serverlessExpress({ app })

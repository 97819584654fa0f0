// The hono contestant: the same route on hono, through its own API Gateway adapter
// (hono/aws-lambda), hono's usual way: its validator middleware for the JSON body, which
// refuses other media types and bodies that are not JSON.
import { Hono } from 'hono'
import { handle } from 'hono/aws-lambda'
import { validator } from 'hono/validator'

const app = new Hono()
app.post(
  '/votes/:id',
  validator('json', (value, c) =>
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? value
      : c.json({ error: { code: 'INVALID_MESSAGE', message: 'the body must be an object' } }, 400),
  ),
  (c) => c.json({ accepted: true, id: c.req.param('id'), choice: c.req.valid('json').choice }, 202),
)

export const handler = handle(app)

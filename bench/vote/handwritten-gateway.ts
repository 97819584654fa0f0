import { randomUUID } from 'node:crypto'
import amqp from 'amqplib'
import express from 'express'
import jwt from 'jsonwebtoken'

/**
 * The vote gateway written by hand on express + amqplib + jsonwebtoken, with the stoa
 * gateway's guarantees: HS256 tokens verified, the choice checked, 4xx for bad input, and 202
 * only once the broker confirmed the persistent message. Env: AMQP_URL, VOTE_PREFIX,
 * JWT_SECRET. Prints `vote listening on <url>`.
 */
const queue = `${process.env.VOTE_PREFIX}.tasks.tally`
const secret = process.env.JWT_SECRET!
const conn = await amqp.connect(process.env.AMQP_URL!)
const ch = await conn.createConfirmChannel()
await ch.assertQueue(queue, { durable: true })

const fail = (res: express.Response, status: number, code: string, message: string) =>
  void res.status(status).json({ error: { code, message } })
const app = express()
app.disable('x-powered-by')
app.post('/api/votes', express.json({ limit: '1mb' }), (req, res) => {
  if (!req.is('application/json'))
    return fail(res, 415, 'UNSUPPORTED_MEDIA_TYPE', 'the request body must be application/json')
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')
  if (m === null) return fail(res, 401, 'UNAUTHENTICATED', 'voting needs a token')
  let claims: jwt.JwtPayload
  try {
    claims = jwt.verify(m[1]!, secret, { algorithms: ['HS256'] }) as jwt.JwtPayload
  } catch {
    return fail(res, 401, 'UNAUTHENTICATED', 'the token is not valid')
  }
  if (typeof claims.sub !== 'string' || !Array.isArray(claims.roles) || !claims.roles.includes('voter'))
    return fail(res, 403, 'FORBIDDEN', 'voting needs the role "voter"')
  const choice = (req.body as { choice?: unknown }).choice
  if (choice !== 'cats' && choice !== 'dogs') return fail(res, 400, 'INVALID_MESSAGE', 'choice must be cats or dogs')
  const vote = { voteId: randomUUID(), voter: claims.sub, choice, acceptedAt: Date.now() }
  ch.sendToQueue(
    queue,
    Buffer.from(JSON.stringify(vote)),
    { persistent: true, contentType: 'application/json', type: 'tally.vote.record' },
    (err) => {
      if (err) fail(res, 503, 'UNAVAILABLE', 'the vote could not be queued')
      else res.status(202).json({ voteId: vote.voteId, acceptedAt: vote.acceptedAt })
    },
  )
})
app.use(
  (
    err: { status?: number; type?: string },
    _req: express.Request,
    res: express.Response,
    _next: express.NextFunction,
  ) => {
    if (err.type === 'entity.too.large') return fail(res, 413, 'PAYLOAD_TOO_LARGE', 'the request body is over 1 MiB')
    fail(res, 400, 'INVALID_JSON', 'the request body is not valid JSON')
  },
)
const server = app.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number }
  process.stdout.write(`vote listening on http://127.0.0.1:${port}\n`)
})
process.once('SIGTERM', () => {
  server.close()
  void conn
    .close()
    .catch(() => undefined)
    .finally(() => process.exit(0))
})

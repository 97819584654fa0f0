import amqp from 'amqplib'
import { expect } from 'chai'
import type pg from 'pg'
import { signToken } from 'stoa/jwt'
import type { Cluster } from '../../examples/vote/cluster.js'

/** A vote the gateway answered 202, as the voter saw it. */
export interface AcceptedVote {
  readonly voter: string
  readonly choice: string
  readonly acceptedAt: number
}

/**
 * The distributed vote system's promise, checked after a run with faults: every vote answered
 * 202 is committed (waited for up to a minute) as it was accepted, each voter's ballot is its
 * earliest accepted vote (ties: the smaller id; voters who got an uncertain answer are not
 * judged), nothing was dead-lettered (`dlq` read on `brokerUrl`) and no service process was
 * restarted instead of reconnecting. Prints the figures through `say`.
 */
export async function expectCountedOnce(o: {
  readonly db: pg.Client
  readonly accepted: ReadonlyMap<string, AcceptedVote>
  readonly uncertain: ReadonlySet<string>
  readonly brokerUrl: string
  readonly dlq: string
  readonly cluster: Cluster
  readonly say: (line: string) => void
}): Promise<void> {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
  let missing = o.accepted.size
  for (const limit = Date.now() + 60_000; Date.now() < limit; ) {
    const { rows } = await o.db.query<{ vote_id: string }>('SELECT vote_id FROM votes')
    const have = new Set(rows.map((r) => r.vote_id))
    missing = [...o.accepted.keys()].filter((id) => !have.has(id)).length
    if (missing === 0) break
    await sleep(500)
  }
  const votes = (
    await o.db.query<{ vote_id: string; voter: string; choice: string; accepted_at: string }>(
      'SELECT vote_id, voter, choice, accepted_at FROM votes',
    )
  ).rows
  const ballots = new Map(
    (await o.db.query<{ voter: string; vote_id: string }>('SELECT voter, vote_id FROM ballots')).rows.map((b) => [
      b.voter,
      b.vote_id,
    ]),
  )
  const conn = await amqp.connect(o.brokerUrl)
  const ch = await conn.createChannel()
  const dead = (await ch.checkQueue(o.dlq)).messageCount
  await conn.close()
  const restarts = [...o.cluster.gateways, ...o.cluster.workers].reduce((n, p) => n + p.restarts, 0)
  o.say(
    `recorded ${votes.length}, ballots ${ballots.size}, missing ${missing}, dead letters ${dead}, process restarts ${restarts}`,
  )
  expect(missing, 'votes answered 202 but never committed').to.equal(0)
  expect(dead, 'votes dead-lettered').to.equal(0)
  expect(restarts, 'services restarted instead of reconnecting').to.equal(0)
  const byId = new Map(votes.map((v) => [v.vote_id, v]))
  for (const [id, a] of o.accepted) {
    const v = byId.get(id)!
    expect({ voter: v.voter, choice: v.choice, acceptedAt: Number(v.accepted_at) }).to.deep.equal(a)
  }
  const earliest = new Map<string, { id: string; acceptedAt: number }>()
  for (const [id, a] of o.accepted) {
    const e = earliest.get(a.voter)
    if (e === undefined || a.acceptedAt < e.acceptedAt || (a.acceptedAt === e.acceptedAt && id < e.id))
      earliest.set(a.voter, { id, acceptedAt: a.acceptedAt })
  }
  for (const [voter, e] of earliest) {
    if (o.uncertain.has(voter)) continue
    expect(ballots.get(voter), `ballot of ${voter}`).to.equal(e.id)
  }
}

/** Voters casting votes without pause until stopped; see {@link startVoters}. */
export interface Voters {
  /** Votes answered 202, by vote id. */
  readonly accepted: Map<string, AcceptedVote>
  /** When each 202 came back, on this machine's clock. */
  readonly answeredAt: Map<string, number>
  /** Voters who had an answer other than 202 (or none): their ballot is not judged. */
  readonly uncertain: Set<string>
  /** The answers other than 202, by status (`network` for none, or a body that is not JSON). */
  readonly others: Record<string, number>
  /** Waits for `n` more 202s, at most 30 s: past that, `step` is named in the failure. */
  until(n: number, step: string): Promise<void>
  /** Stops the voters and waits for the votes in flight. */
  stop(): Promise<void>
}

/**
 * `concurrency` voters posting to `url`'s `/api/votes` in turn as `voters` distinct voters (one
 * token each, signed with `secret`), a third for cats; each request given up after `timeoutMs`
 * when set.
 */
export function startVoters(o: {
  readonly url: string
  readonly secret: string
  readonly voters: number
  readonly concurrency: number
  readonly timeoutMs?: number
}): Voters {
  const tokens = Array.from({ length: o.voters }, (_, i) =>
    signToken({ sub: `v${i}`, roles: ['voter'] }, { secret: o.secret, expiresInSec: 3600 }),
  )
  const accepted = new Map<string, AcceptedVote>()
  const answeredAt = new Map<string, number>()
  const uncertain = new Set<string>()
  const others: Record<string, number> = {}
  let k = 0
  let sending = true
  const client = async () => {
    while (sending) {
      const n = k++
      const voter = `v${n % o.voters}`
      const choice = n % 3 === 0 ? 'cats' : 'dogs'
      try {
        const res = await fetch(`${o.url}/api/votes`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[n % o.voters]}` },
          body: JSON.stringify({ choice }),
          signal: o.timeoutMs === undefined ? undefined : AbortSignal.timeout(o.timeoutMs),
        })
        const body = (await res.json()) as { voteId: string; acceptedAt: number }
        if (res.status === 202) {
          accepted.set(body.voteId, { voter, choice, acceptedAt: body.acceptedAt })
          answeredAt.set(body.voteId, Date.now())
        } else {
          uncertain.add(voter)
          others[res.status] = (others[res.status] ?? 0) + 1
        }
      } catch {
        uncertain.add(voter)
        others.network = (others.network ?? 0) + 1
      }
    }
  }
  const clients = Promise.all(Array.from({ length: o.concurrency }, client))
  return {
    accepted,
    answeredAt,
    uncertain,
    others,
    async until(n, step) {
      const from = accepted.size
      const limit = Date.now() + 30_000
      while (accepted.size < from + n) {
        if (Date.now() > limit)
          throw new Error(`${step}: ${accepted.size - from} of ${n} votes accepted in 30 s (${JSON.stringify(others)})`)
        await new Promise((r) => setTimeout(r, 50))
      }
    },
    async stop() {
      sending = false
      await clients
    },
  }
}

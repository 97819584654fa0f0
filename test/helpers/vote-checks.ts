import amqp from 'amqplib'
import { expect } from 'chai'
import type pg from 'pg'
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

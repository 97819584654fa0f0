import { expect } from 'chai'
import pg from 'pg'
import { signToken } from 'stoa/jwt'
import type { Cluster } from '../../examples/vote/cluster.js'

/** What a chaos run of the distributed vote system needs beside its started cluster. */
export interface ChaosRun {
  cluster: Cluster
  /** The tally's database, where the votes are committed. */
  databaseUrl: string
  /** The gateways' token secret, to issue the voters' tokens without a login each. */
  jwtSecret: string
  voters: number
  votes: number
  /** At least this many worker SIGKILLs, one every 2.5 s while votes are sent. */
  kills: number
  /** The broker's disruption, made once when a third of the votes are sent: how many it made. */
  disrupt(): Promise<number>
  /** What `disrupt` does, for the printed summary ("connections dropped"). */
  disruption: string
  /** How many tally tasks were dead-lettered, read after every vote is committed. */
  deadLetters(): Promise<number>
  /** The cluster's recent output, printed when a check fails. */
  output: readonly string[]
}

/** What a run saw, for checks a broker adds of its own. */
export interface ChaosOutcome {
  accepted: number
}

interface Accepted {
  voter: string
  choice: 'cats' | 'dogs'
  acceptedAt: number
}

const CONCURRENCY = 32

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * Votes through the cluster's nginx while workers are SIGKILLed and the broker is disrupted,
 * then checks the promise of the vote system: every vote answered 202 is committed once, with
 * what was accepted, the earliest per voter is its ballot, duplicates are counted as such,
 * nothing is dead-lettered and every `vote.recorded` left the tally's outbox. A vote whose
 * answer was lost may have been queued all the same: only its voter may differ from what the
 * 202s alone predict.
 */
export async function runVoteChaos(run: ChaosRun): Promise<ChaosOutcome> {
  const { cluster, voters: VOTERS, votes: VOTES, kills: KILLS } = run
  const url = cluster.url
  const started = Date.now()
  // A few voters log in through the auth service; the rest carry tokens issued elsewhere
  // with the same secret, which the gateways accept as well.
  const tokens: string[] = []
  for (let i = 0; i < VOTERS; i++) {
    if (i < 5) {
      const res = await fetch(`${url}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: `v${i}` }),
      })
      expect(res.status).to.equal(200)
      tokens.push(((await res.json()) as { token: string }).token)
    } else {
      tokens.push(signToken({ sub: `v${i}`, roles: ['voter'] }, { secret: run.jwtSecret, expiresInSec: 3600 }))
    }
  }

  const accepted = new Map<string, Accepted>()
  /** Voters with a vote whose answer was not a 202: it may or may not have been queued. */
  const uncertain = new Set<string>()
  /** The answers other than 202, by status (or `network` for no answer). */
  const others: Record<string, number> = {}
  let sent = 0
  let next = 0
  const client = async () => {
    for (let k = next++; k < VOTES; k = next++) {
      const voter = `v${k % VOTERS}`
      const choice = (k * 7919) % 3 === 0 ? 'cats' : 'dogs'
      sent++
      try {
        const res = await fetch(`${url}/api/votes`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[k % VOTERS]}` },
          body: JSON.stringify({ choice }),
        })
        const body = (await res.json()) as { voteId: string; acceptedAt: number }
        if (res.status === 202) accepted.set(body.voteId, { voter, choice, acceptedAt: body.acceptedAt })
        else {
          uncertain.add(voter)
          others[res.status] = (others[res.status] ?? 0) + 1
        }
      } catch {
        uncertain.add(voter)
        others.network = (others.network ?? 0) + 1
      }
    }
  }
  let sending = true
  let kills = 0
  let disrupted = 0
  const chaos = async () => {
    // A kill every few seconds: each restart costs a worker's start-up, on a shared machine.
    while (kills < KILLS || (sending && kills < 2 * KILLS)) {
      await sleep(sending ? 2500 : 500)
      const i = kills % cluster.workers.length
      const victim = cluster.workers[i]!.child
      const gone = new Promise((r) => victim.once('exit', r))
      victim.kill('SIGKILL')
      await gone
      kills++
      if (disrupted === 0 && next > VOTES / 3) disrupted += await run.disrupt()
      // The cluster starts it again by itself, after its backoff.
      await cluster.workers[i]!.running()
    }
    if (disrupted === 0) disrupted += await run.disrupt()
  }
  const chaosDone = chaos()
  await Promise.all(Array.from({ length: CONCURRENCY }, client))
  sending = false
  await chaosDone

  // Wait (bounded) until every 202 is committed.
  const db = new pg.Client({ connectionString: run.databaseUrl })
  await db.connect()
  try {
    let missing = accepted.size
    for (const until = Date.now() + 120_000; Date.now() < until; ) {
      const { rows } = await db.query<{ vote_id: string }>('SELECT vote_id FROM votes')
      const have = new Set(rows.map((r) => r.vote_id))
      missing = 0
      for (const id of accepted.keys()) if (!have.has(id)) missing++
      if (missing === 0) break
      await sleep(500)
    }
    // Let any vote whose answer was lost land too, then read the final state.
    await sleep(1000)
    const votes = (
      await db.query<{ vote_id: string; voter: string; choice: string; accepted_at: string; deliveries: number }>(
        'SELECT vote_id, voter, choice, accepted_at, deliveries FROM votes',
      )
    ).rows
    const ballots = new Map(
      (
        await db.query<{ voter: string; vote_id: string; choice: string }>('SELECT voter, vote_id, choice FROM ballots')
      ).rows.map((b) => [b.voter, b]),
    )
    const totals = (
      await db.query<{ cats: string; dogs: string }>(
        "SELECT count(*) FILTER (WHERE choice = 'cats') AS cats, count(*) FILTER (WHERE choice = 'dogs') AS dogs FROM ballots",
      )
    ).rows[0]!
    // Every committed vote's vote.recorded left the tally's outbox: published, none stranded by a
    // killed worker's relay (its lease runs out and another worker's relay takes the row).
    let unpublished = -1
    for (const until = Date.now() + 90_000; Date.now() < until; ) {
      unpublished = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM stoa_outbox')).rows[0]!.n)
      if (unpublished === 0) break
      await sleep(500)
    }
    const dead = await run.deadLetters()
    const redeliveries = votes.reduce((n, v) => n + v.deliveries - 1, 0)
    const elapsed = ((Date.now() - started) / 1000).toFixed(1)
    process.stdout.write(
      `\n      votes sent ${sent}, 202s ${accepted.size}, other answers ${sent - accepted.size} ${JSON.stringify(others)} (from ${uncertain.size} voters), ` +
        `recorded ${votes.length}, ballots ${ballots.size} (cats ${totals.cats}, dogs ${totals.dogs}), kills ${kills}, ` +
        `${run.disruption} ${disrupted}, redeliveries seen ${redeliveries}, dead letters ${dead}, elapsed ${elapsed} s\n`,
    )

    expect(unpublished, 'vote.recorded events left unpublished in the outbox').to.equal(0)
    expect(missing, 'votes answered 202 but never committed').to.equal(0)
    expect(kills).to.be.at.least(KILLS)
    expect(disrupted, run.disruption).to.be.at.least(1)
    expect(dead, 'votes dead-lettered').to.equal(0)
    const recorded = new Map(votes.map((v) => [v.vote_id, v]))
    for (const [id, a] of accepted) {
      const v = recorded.get(id)!
      expect({ voter: v.voter, choice: v.choice, acceptedAt: Number(v.accepted_at) }).to.deep.equal({
        voter: a.voter,
        choice: a.choice,
        acceptedAt: a.acceptedAt,
      })
    }
    const extra = votes.filter((v) => !accepted.has(v.vote_id))
    for (const v of extra)
      expect(
        uncertain.has(v.voter),
        `vote ${v.vote_id} was recorded without a 202 to a voter whose votes all got one`,
      ).to.equal(true)
    const earliest = new Map<string, { id: string } & Accepted>()
    for (const [id, a] of accepted) {
      const e = earliest.get(a.voter)
      if (e === undefined || a.acceptedAt < e.acceptedAt || (a.acceptedAt === e.acceptedAt && id < e.id))
        earliest.set(a.voter, { id, ...a })
    }
    for (const [voter, e] of earliest) {
      if (uncertain.has(voter)) continue
      expect(ballots.get(voter), `ballot of ${voter}`).to.include({ vote_id: e.id, choice: e.choice })
    }
    expect(votes.length - ballots.size, 'duplicates').to.equal(
      accepted.size +
        extra.length -
        earliest.size -
        [...new Set(extra.map((v) => v.voter))].filter((v) => !earliest.has(v)).length,
    )
    if (extra.length === 0) expect(votes.length - ballots.size).to.equal(accepted.size - earliest.size)
    expect(accepted.size).to.be.at.least(VOTES * 0.95)
    return { accepted: accepted.size }
  } catch (err) {
    process.stdout.write(`${run.output.slice(-40).join('\n')}\n`)
    throw err
  } finally {
    await db.end()
  }
}

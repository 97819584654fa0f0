import type { Shape, Take } from './bucket.js'

type Redis = import('ioredis').Redis

/**
 * The token-bucket rule of bucket.ts as one Redis script, so every gateway's take is atomic
 * (Redis runs a script alone) and reads Redis's own clock (`TIME`: gateways whose clocks
 * disagree still share one bucket). KEYS[1] holds the caller's TAT, ms; it expires when the
 * bucket is full again, so an idle caller costs nothing. ARGV: ms per token, ms the bucket
 * holds, the float slack. Answers `{ ok, remaining, waitMs, fullMs }`, whole ms.
 */
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local slack = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local nxt = tat + interval
if nxt - now > capacity + slack then
  return {0, 0, math.ceil(nxt - capacity - now), math.ceil(tat - now)}
end
redis.call('SET', KEYS[1], string.format('%.3f', nxt), 'PX', math.ceil(nxt - now))
return {1, math.floor((capacity - (nxt - now) + slack) / interval), 0, math.ceil(nxt - now)}
`

/** The client with the script defined on it (ioredis sends it by its SHA, and whole once a server lacks it). */
type WithTake = Redis & {
  stoaTokenBucket(key: string, intervalMs: number, capacityMs: number, slackMs: number): Promise<number[]>
}

/**
 * Takes tokens from buckets kept in Redis: `take` answers as the memory store's does, or
 * rejects when Redis does not answer (the caller counts in memory then).
 */
export function redisBuckets(client: Redis, slackMs: number): (key: string, shape: Shape) => Promise<Take> {
  client.defineCommand('stoaTokenBucket', { numberOfKeys: 1, lua: TAKE })
  const c = client as WithTake
  return (key, shape) =>
    c.stoaTokenBucket(key, shape.intervalMs, shape.capacityMs, slackMs).then(([ok, remaining, waitMs, fullMs]) => ({
      ok: ok === 1,
      remaining: remaining!,
      waitMs: waitMs!,
      fullMs: fullMs!,
    }))
}

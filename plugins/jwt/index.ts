/**
 * The jwt plugin: verifies the token every call comes with and sets `ctx.identity`; signs the
 * tokens stoa issues itself (system, delegation) and, for an authentication service, user
 * tokens. See docs/identity.md.
 *
 * @module stoa/jwt
 */
import type { Clock, Context, Hooks, Identity, Message } from '../../actions/index.js'
import { definePlugin, runNext, StoaError } from '../../actions/index.js'
import type { Envelope, Reply } from '../../actions/transport.js'
import { buildKeyRings } from './keys.js'
import type { ResolvedJwtOptions } from './options.js'
import { jwtOptions } from './options.js'
import { loadJsonwebtoken } from './peer.js'
import { signDelegation } from './sign.js'
import type { Verified } from './verify.js'
import { Verifier } from './verify.js'

export type { Algorithm, JwtOptions } from './options.js'
export { ALGORITHMS, fromEnvironment } from './options.js'
export type { SignSystemTokenOptions, SignTokenOptions, TokenClaims } from './sign.js'
export { signSystemToken, signToken } from './sign.js'
export type { Refusal, TokenKind } from './verify.js'
export { REFUSALS } from './verify.js'

/**
 * The jwt plugin. Every local action, task and event subscriber of the service is wrapped: a
 * call that comes with a token (HTTP `Authorization: Bearer` or the login cookie, AMQP
 * `x-stoa-token`, the CLI's `--token`) has it verified here, at this service, and runs with
 * `ctx.identity` set. Nested calls in the same process with the same token inherit the identity
 * without verifying again. An invalid token refuses the call with `UNAUTHENTICATED`, except on
 * actions marked `public` and on event subscribers, which run without an identity. A call with
 * no token runs with none: requiring one is the authz plugin's job.
 *
 * With `delegation` options, a task leaving this service carries a delegation token signed here
 * instead of the user's own, so it still runs for the user however long it waits in a queue.
 *
 * @example
 * const orders = createStoa({ name: 'orders' })
 *   .use(jwt, { audience: 'orders' }) // the key from JWT_SECRET
 *   .use(authz, { roles: { 'user-client': ['order:place'], system: ['*'] } })
 */
const jwt = definePlugin({
  name: 'jwt',
  options: jwtOptions,
  setup: (options, host) => ({
    init: async () => {
      await loadJsonwebtoken()
    },
    hooks: hooksOf(options, host.clock),
  }),
})

/**
 * The jwt plugin's hooks for one loading: tokens are checked (`exp`, `nbf`) and the delegation
 * tokens it signs dated (`iat`, `exp`) by `clock`, the instance's, so that under a virtual clock
 * a token expires when the test moves time.
 */
function hooksOf(options: ResolvedJwtOptions, clock: Clock): Hooks {
  const rings = buildKeyRings(options, undefined, clock)
  const verifier = new Verifier(options, rings, clock)
  // Which identity came from which token, and of what kind: identities this plugin made.
  const made = new WeakMap<Identity, { token: string; kind: Verified['kind'] }>()
  const signer = rings.delegationSigner
  const delegation = options.delegation
  const verify = (token: string, ctx: Context) => verifier.verify(token, ctx)
  return {
    inbound: (next, action) => {
      // Public actions and event subscribers run whoever calls: a stale token (an expired
      // login cookie on the login route) must not stop them, it just gives no identity.
      const lenient = action.options.public === true || action.pattern.event !== undefined
      const verified = (v: Verified, token: string, ctx: Context, msg: Message): unknown => {
        made.set(v.identity, { token, kind: v.kind })
        ctx.identity = v.identity
        return next(msg, ctx)
      }
      const refused = (err: unknown, _token: string, ctx: Context, msg: Message): unknown => {
        if (!lenient || !isRefusal(err)) throw err
        ctx.identity = undefined
        return next(msg, ctx)
      }
      return (msg, ctx) => {
        const token = ctx.token
        if (token === undefined) return next(msg, ctx)
        const known = ctx.identity
        if (known !== undefined && made.get(known)?.token === token) return next(msg, ctx)
        return runNext(verify, token, ctx, msg, verified, refused)
      }
    },
    outbound:
      signer === undefined || delegation === undefined
        ? undefined
        : (next) => (envelope, ctx) => {
            const token = envelope.meta.token
            if (token === undefined || envelope.kind === 'emit') return next(envelope, ctx)
            const known = ctx?.identity === undefined ? undefined : made.get(ctx.identity)
            // An act carries the caller's token on as it is (the next service verifies it), unless
            // the call runs on a delegation token, which is bound to its own message.
            if (envelope.kind === 'act' && !(known?.token === token && known.kind === 'delegation'))
              return next(envelope, ctx)
            return exchange(envelope, ctx).then(
              (out) =>
                out === token
                  ? next(envelope, ctx)
                  : next({ ...envelope, meta: { ...envelope.meta, token: out } }, ctx),
              (err: unknown): Reply => ({
                ok: false,
                error: (err instanceof StoaError
                  ? err
                  : new StoaError('UNAUTHENTICATED', 'the token cannot be delegated')
                ).toJSON(),
              }),
            )
          },
  }

  /**
   * The token a call leaves with. A task sent for a user gets a delegation token, valid
   * `ttlMs`; a call made while running on a delegation token gets one rebound to its own
   * message, with the same expiry (a chain of tasks never stretches it); a system token, or a
   * user's token on an act, leaves as it is.
   */
  async function exchange(envelope: Envelope, ctx: Context | undefined): Promise<string> {
    const token = envelope.meta.token!
    let identity = ctx?.identity
    let kind = identity === undefined ? undefined : made.get(identity)
    if (identity === undefined || kind?.token !== token) {
      // A task sent from outside any action, or with another token than the call's.
      const v = await verifier.verify(token, undefined)
      identity = v.identity
      kind = { token, kind: v.kind }
    }
    const on = { service: envelope.meta.caller ?? 'stoa', messageId: envelope.meta.id, task: envelope.name }
    if (kind!.kind === 'user' && envelope.kind === 'send')
      return signDelegation(identity, on, undefined, signer!, delegation!.audience, delegation!.ttlMs, clock.now())
    if (kind!.kind === 'delegation')
      return signDelegation(
        identity,
        on,
        identity.claims,
        signer!,
        delegation!.audience,
        delegation!.ttlMs,
        clock.now(),
      )
    return token
  }
}

function isRefusal(err: unknown): boolean {
  return err instanceof StoaError && err.code === 'UNAUTHENTICATED'
}

export default jwt

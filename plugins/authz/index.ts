/**
 * The authz plugin: each service maps the global roles of its callers to its own permissions,
 * and each action declares the permission it requires, or that it is public.
 *
 * @module stoa/authz
 */
import type { ActionInfo, Identity } from '../../actions/index.js'
import { definePlugin, patternString, StoaError, toPattern } from '../../actions/index.js'
import { authzOptions } from './options.js'

export type { AuthzOptions } from './options.js'

/**
 * The authz plugin. Load it after the jwt plugin, which sets the identity it checks. Every local
 * action must declare `permission: '<name>'` or `public: true`: one that declares neither
 * refuses to register, so the service does not start with an action left open by mistake. A
 * call to a protected action with no identity is refused `UNAUTHENTICATED` (HTTP 401); with an
 * identity whose roles grant no matching permission, `FORBIDDEN` (403). The action does not run.
 * Event subscribers are not checked: an event is a fact, and who may cause it is checked where
 * it is emitted.
 *
 * @example
 * createStoa({ name: 'moves' })
 *   .use(jwt, { secret: jwtSecret })
 *   .use(authz, { roles: { 'user-mover': ['move:read'], 'user-business': ['move:*'], system: ['*'] } })
 *   .add('role:move,cmd:get', getMove, { permission: 'move:read' })
 *   .add('role:move,cmd:health', () => ({ ok: true }), { public: true })
 */
const authz = definePlugin({
  name: 'authz',
  options: authzOptions,
  dependencies: ['jwt'],
  hooks: (options) => {
    const grants = compile(options.roles)
    const declared = new Map<string, { permission: string } | { public: true }>()
    for (const [pattern, d] of Object.entries(options.declare)) declared.set(canonical(pattern), d)
    return {
      inbound: (next, action) => {
        if (action.pattern.event !== undefined) return next
        const own = declared.get(action.key)
        let needed: string | undefined
        if (own === undefined) {
          if (action.options.public === true) return next
          needed = action.permission
        } else {
          if ('public' in own) return next
          needed = own.permission
        }
        if (needed === undefined || needed === '') throw undeclared(action)
        return (msg, ctx) => {
          const identity = ctx.identity
          if (identity === undefined)
            throw new StoaError('UNAUTHENTICATED', 'this action needs a token', { reason: 'missing' })
          if (!grants(identity, needed))
            throw new StoaError('FORBIDDEN', `this action needs the permission "${needed}"`, { permission: needed })
          return next(msg, ctx)
        }
      },
    }
  },
})

/** Whether an identity's roles grant a permission, under one service's role map. */
type Grants = (identity: Identity, permission: string) => boolean

function compile(roles: Readonly<Record<string, readonly string[]>>): Grants {
  const table = new Map<string, { all: boolean; exact: Set<string>; prefixes: string[] }>()
  for (const [role, perms] of Object.entries(roles)) {
    const rule = { all: false, exact: new Set<string>(), prefixes: [] as string[] }
    for (const p of perms) {
      if (p === '*') rule.all = true
      else if (p.endsWith(':*')) rule.prefixes.push(p.slice(0, -1))
      else rule.exact.add(p)
    }
    table.set(role, rule)
  }
  return (identity, permission) => {
    for (const role of identity.roles) {
      const rule = table.get(role)
      if (rule === undefined) continue
      if (rule.all || rule.exact.has(permission)) return true
      for (const prefix of rule.prefixes) if (permission.startsWith(prefix)) return true
    }
    return false
  }
}

function canonical(pattern: string): string {
  try {
    return patternString(toPattern(pattern))
  } catch {
    throw new StoaError('INVALID_OPTIONS', `plugin "authz": option "declare": "${pattern}" is not a pattern`, {
      plugin: 'authz',
      fields: ['declare'],
    })
  }
}

function undeclared(action: ActionInfo): StoaError {
  const by = action.plugin === undefined ? '' : ` (plugin "${action.plugin}")`
  return new StoaError(
    'INVALID_PLUGIN',
    `action "${action.key}"${by} declares neither a permission nor public: true (nor does authz's declare option); the authz plugin refuses to serve it`,
    {
      action: action.key,
      plugin: action.plugin ?? null,
    },
  )
}

export default authz

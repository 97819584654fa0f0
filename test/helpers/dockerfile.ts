import type { ChildProcess } from 'node:child_process'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { chmodSync, chownSync, cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { isAbsolute, join, relative } from 'node:path'
import type { Instruction, JSONInstruction } from 'dockerfile-ast'
import { DockerfileParser } from 'dockerfile-ast'

/** The users a Dockerfile may name, as the base image defines them (node's images: `node`, uid 1000). */
const USERS: Record<string, { uid: number; gid: number }> = { node: { uid: 1000, gid: 1000 }, root: { uid: 0, gid: 0 } }

/** One stage as built: where its "/" is on this machine, and what it declared. */
export interface BuiltStage {
  readonly name: string | undefined
  readonly base: string
  /** The folder standing for the stage's `/`. */
  readonly root: string
  /** WORKDIR, as a path in the image. */
  readonly workdir: string
  readonly env: Readonly<Record<string, string>>
  readonly user: string | undefined
  /** The Debian packages its `apt-get install` steps ask for. */
  readonly aptPackages: readonly string[]
  readonly expose: readonly string[]
  readonly healthcheck:
    | { readonly options: Readonly<Record<string, string>>; readonly cmd: readonly string[] }
    | undefined
  readonly entrypoint: readonly string[]
  readonly cmd: readonly string[]
}

/**
 * Builds a Dockerfile without a container runtime: each stage gets a folder of its own for its
 * `/`; `WORKDIR`, `ENV`, `USER`, `COPY` (from the context or `--from` a stage, `--chown` applied
 * when this process may) and `RUN` steps are carried out in order, `RUN` with `sh -c` in the
 * stage's work folder. A `RUN` installing Debian packages is not run (it would change this
 * machine): its packages are recorded, and the caller checks this machine has them, this
 * machine standing in for the Debian base image. Returns the stages, the last one last.
 *
 * @example
 * const stages = buildDockerfile(readFileSync('Dockerfile', 'utf8'), contextDir, { env })
 */
export function buildDockerfile(
  text: string,
  context: string,
  options: { env?: NodeJS.ProcessEnv; log?: (line: string) => void } = {},
): BuiltStage[] {
  const base = mkdtempSync(join(tmpdir(), 'stoa-image-'))
  chmodSync(base, 0o755)
  const stages: BuiltStage[] = []
  let cur: Mutable<BuiltStage> | undefined
  for (const i of DockerfileParser.parse(text).getInstructions()) {
    const keyword = i.getKeyword()
    const args = i.getArguments().map((a) => a.getValue())
    if (keyword === 'FROM') {
      if (cur !== undefined) stages.push(cur)
      const root = join(base, String(stages.length))
      mkdirSync(root, { mode: 0o755 })
      const as = args.findIndex((a) => a.toUpperCase() === 'AS')
      cur = {
        name: as >= 0 ? args[as + 1] : undefined,
        base: args[0]!,
        root,
        workdir: '/',
        env: {},
        user: undefined,
        aptPackages: [],
        expose: [],
        healthcheck: undefined,
        entrypoint: [],
        cmd: [],
      }
      continue
    }
    if (cur === undefined) throw new Error(`${keyword} before FROM`)
    const stage = cur
    options.log?.(`${keyword} ${i.getArgumentsContent() ?? ''}`)
    switch (keyword) {
      case 'WORKDIR':
        stage.workdir = inImage(stage.workdir, args[0]!)
        mkdirSync(join(stage.root, stage.workdir), { recursive: true, mode: 0o755 })
        break
      case 'ENV':
        for (const a of args) {
          const eq = a.indexOf('=')
          stage.env = { ...stage.env, [a.slice(0, eq)]: a.slice(eq + 1) }
        }
        break
      case 'USER':
        stage.user = args[0]
        break
      case 'EXPOSE':
        stage.expose = args
        break
      case 'COPY':
        copy(i, stage, stages, context)
        break
      case 'RUN':
        run(i.getArgumentsContent() ?? '', stage, options.env ?? process.env)
        break
      case 'HEALTHCHECK': {
        const flags = Object.fromEntries(flagsOf(i).map((f) => [f.name, f.value]))
        const m = /^CMD\s+(\[.*\])\s*$/s.exec(i.getArgumentsContent() ?? '')
        if (m === null) throw new Error('HEALTHCHECK must be CMD in the exec form')
        stage.healthcheck = { options: flags, cmd: JSON.parse(m[1]!) as string[] }
        break
      }
      case 'ENTRYPOINT':
        stage.entrypoint = jsonArgs(i)
        break
      case 'CMD':
        stage.cmd = jsonArgs(i)
        break
      default:
        throw new Error(`the Dockerfile runner does not know ${keyword}`)
    }
  }
  if (cur !== undefined) stages.push(cur)
  return stages
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/** A path in the image, from the work folder. */
function inImage(workdir: string, path: string): string {
  return isAbsolute(path) ? path : join(workdir, path)
}

function flagsOf(i: Instruction): { name: string; value: string }[] {
  const withFlags = i as unknown as { getFlags?: () => { getName(): string; getValue(): string | null }[] }
  return (withFlags.getFlags?.() ?? []).map((f) => ({ name: f.getName(), value: f.getValue() ?? '' }))
}

/** The exec-form arguments of CMD, ENTRYPOINT or HEALTHCHECK CMD; a shell form is refused. */
function jsonArgs(i: Instruction): string[] {
  const strings = (i as JSONInstruction).getJSONStrings?.()
  if (strings === undefined || strings.length === 0) throw new Error(`${i.getKeyword()} must use the exec form`)
  return strings.map((s) => s.getJSONValue())
}

function copy(i: Instruction, stage: Mutable<BuiltStage>, done: readonly BuiltStage[], context: string): void {
  const flags = Object.fromEntries(flagsOf(i).map((f) => [f.name, f.value]))
  const paths = i.getArguments().map((a) => a.getValue())
  const dest = inImage(stage.workdir, paths.pop()!)
  const from = flags.from === undefined ? undefined : done.find((s) => s.name === flags.from)
  if (flags.from !== undefined && from === undefined) throw new Error(`COPY --from=${flags.from}: no such stage`)
  const owner = flags.chown === undefined ? undefined : USERS[flags.chown.split(':')[0]!]
  if (flags.chown !== undefined && owner === undefined) throw new Error(`COPY --chown=${flags.chown}: unknown user`)
  const ignored = from === undefined ? dockerignore(context) : () => false
  const base = from === undefined ? context : from.root
  // A `*` in a source's last segment matches names in its folder (`package*.json`).
  const sources = paths.flatMap((src) => {
    if (!src.includes('*')) return [src]
    const slash = src.lastIndexOf('/')
    const folder = slash < 0 ? '' : src.slice(0, slash)
    const pattern = new RegExp(
      `^${src
        .slice(slash + 1)
        .replace(/[.+^$()|{}]/g, '\\$&')
        .replace(/\*/g, '.*')}$`,
    )
    return readdirSync(join(base, folder))
      .filter((n) => pattern.test(n))
      .map((n) => (folder === '' ? n : `${folder}/${n}`))
  })
  for (const src of sources) {
    const source = from === undefined ? join(context, src) : join(from.root, src)
    const multiple = sources.length > 1 || dest.endsWith('/')
    const target = join(stage.root, multiple ? join(dest, src.split('/').pop()!) : dest)
    cpSync(source, target, { recursive: true, filter: (p) => !ignored(relative(context, p)) })
    if (owner !== undefined) chownTree(target, owner)
  }
}

/**
 * What the context's `.dockerignore` leaves out, by path from the context: each line a name or
 * a path, which covers what is under it (the patterns `stoa new` writes; no globs).
 */
function dockerignore(context: string): (path: string) => boolean {
  let lines: string[] = []
  try {
    lines = readFileSync(join(context, '.dockerignore'), 'utf8').split('\n')
  } catch {
    return () => false
  }
  const patterns = lines.map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  for (const p of patterns) if (/[*?[!]/.test(p)) throw new Error(`.dockerignore: the runner takes no glob (${p})`)
  return (path) => patterns.some((p) => path === p || path.startsWith(`${p}/`))
}

function chownTree(path: string, owner: { uid: number; gid: number }): void {
  chownSync(path, owner.uid, owner.gid)
  if (lstatSync(path).isDirectory()) for (const n of readdirSync(path)) chownTree(join(path, n), owner)
}

function run(command: string, stage: Mutable<BuiltStage>, env: NodeJS.ProcessEnv): void {
  const apt =
    /^\s*apt-get update\s*&&\s*apt-get install\s+((?:-\S+\s+)*)([a-z0-9.+\-\s]+?)\s*(?:&&\s*rm -rf \/var\/lib\/apt\/lists\/\*\s*)?$/
  const m = apt.exec(command.replace(/\s+/g, ' '))
  if (m !== null) {
    stage.aptPackages = [...stage.aptPackages, ...m[2]!.trim().split(/\s+/)]
    return
  }
  if (/(^|\s)\/(?!app\b)/.test(command)) throw new Error(`RUN ${command}: an absolute path would reach this machine`)
  execFileSync('sh', ['-c', command], {
    cwd: join(stage.root, stage.workdir),
    env: { ...env, ...stage.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
}

/** Whether this machine has a Debian package installed (`dpkg-query`). */
export function debianInstalled(pkg: string): boolean {
  try {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own field syntax
    return execFileSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' }) === 'install ok installed'
  } catch {
    return false
  }
}

/** Debian's release name on this machine (`bookworm`), from /etc/os-release. */
export function debianRelease(): string | undefined {
  return /^VERSION_CODENAME=(.*)$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1]
}

/** A path inside a built stage, as its image would see it. */
export function imagePath(stage: BuiltStage, path: string): string {
  return join(stage.root, relative('/', inImage(stage.workdir, path)))
}

/** A container started from a built stage's ENTRYPOINT and CMD, and its HEALTHCHECK. */
export interface StartedImage {
  readonly child: ChildProcess
  /** What it printed so far, stdout and stderr. */
  readonly output: () => string
  /** Runs the HEALTHCHECK command as the image does; its exit status. */
  readonly healthcheck: () => number | null
}

/**
 * Starts the last stage's `ENTRYPOINT` + `CMD` in its work folder as its `USER` (when this
 * process may switch to it), with `env` over the stage's `ENV`; `container` rewrites each
 * argument of the command and the HEALTHCHECK for what a container's own network would give
 * (a broker's host name, a fixed port). `node` runs as this Node.
 *
 * @example
 * const image = startImage(stages.at(-1)!, { env: { JWT_SECRET }, container: (a) => a.replace(':9090', `:${port}`) })
 */
export function startImage(
  stage: BuiltStage,
  options: { env?: Record<string, string>; container?: (arg: string) => string } = {},
): StartedImage {
  const container = options.container ?? ((a: string) => a)
  const command = (args: readonly string[]) =>
    args.map((a, i) => (i <= 2 && a === 'node' ? process.execPath : container(a)))
  const user = imageUser(stage.user)
  const asUser = process.getuid?.() === 0 ? { uid: user.uid, gid: user.gid } : {}
  const cwd = imagePath(stage, '.')
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...stage.env, ...options.env }
  const [file, ...args] = command([...stage.entrypoint, ...stage.cmd])
  const child = spawn(file!, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], ...asUser })
  const out: string[] = []
  child.stdout!.on('data', (d: Buffer) => out.push(d.toString()))
  child.stderr!.on('data', (d: Buffer) => out.push(d.toString()))
  return {
    child,
    output: () => out.join(''),
    healthcheck: () => {
      if (stage.healthcheck === undefined) throw new Error('the image has no HEALTHCHECK')
      const [cmd, ...rest] = command(stage.healthcheck.cmd)
      return spawnSync(cmd!, rest, { cwd, env, ...asUser, timeout: 3000 }).status
    },
  }
}

/** The uid and gid of a user the images name. */
export function imageUser(name: string | undefined): { uid: number; gid: number } {
  const u = USERS[name ?? 'root']
  if (u === undefined) throw new Error(`unknown user ${name}`)
  return u
}

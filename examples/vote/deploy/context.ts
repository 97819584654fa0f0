import { execFileSync } from 'node:child_process'
import { copyFileSync, cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const HERE = fileURLToPath(new URL('./', import.meta.url))

/**
 * Writes the vote image's build context into `dir` (emptied first): the Dockerfile, the image's
 * package.json, stoa's packed `tarball` as `stoa.tgz`, and the compiled services under `vote/`
 * (from `dist/examples/vote`, without declarations or source maps) with the gateway's pages.
 * `dist/` must be built (`npm run build`).
 *
 * @example
 * imageContext('.vote-image', '/tmp/stoa-0.1.0.tgz')
 */
export function imageContext(dir: string, tarball: string): void {
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  for (const f of ['Dockerfile', 'package.json']) copyFileSync(join(HERE, f), join(dir, f))
  copyFileSync(tarball, join(dir, 'stoa.tgz'))
  const compiled = join(ROOT, 'dist', 'examples', 'vote')
  cpSync(compiled, join(dir, 'vote'), {
    recursive: true,
    filter: (src) => !/\.(d\.ts|map)$/.test(src) && !src.startsWith(join(compiled, 'deploy')),
  })
  cpSync(join(ROOT, 'examples', 'vote', 'web', 'pages'), join(dir, 'vote', 'web', 'pages'), { recursive: true })
}

/** `npm run vote:image -- <dir>`: builds stoa, packs it and writes the context into `<dir>`. */
function main(): void {
  const dir = resolve(process.argv[2] ?? '.vote-image')
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' })
  const packDir = join(dir, '..', `.stoa-pack-${process.pid}`)
  mkdirSync(packDir, { recursive: true })
  try {
    execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', packDir], { cwd: ROOT, stdio: 'ignore' })
    const [tarball] = readdirSync(packDir)
    imageContext(dir, join(packDir, tarball!))
  } finally {
    rmSync(packDir, { recursive: true, force: true })
  }
  process.stdout.write(`context in ${dir}: docker build -t stoa-vote:0.1.0 ${dir}\n`)
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main()

import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { expect } from 'chai'
import type { Skippable } from './binaries.js'
import { findProgram, PROGRAMS, requireProgram } from './binaries.js'
import { startPrometheus } from './prometheus.js'

/** A mocha hook's `this` that records the skip instead of throwing mocha's Pending. */
function fakeHook(title = 'metrics scraped by a real Prometheus server') {
  const hook = {
    skipped: 0,
    skip(): never {
      hook.skipped++
      throw new Error('skipped')
    },
    test: { parent: { fullTitle: () => title } },
  }
  return hook satisfies Skippable
}

describe('test/helpers/binaries', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stoa-lambda-binaries-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  describe('findProgram', () => {
    it('finds a command on the search path, and an absolute path as it is', () => {
      expect(findProgram({ command: 'node' }, dirname(process.execPath))).to.equal(
        join(dirname(process.execPath), 'node'),
      )
      expect(findProgram({ command: process.execPath }, '')).to.equal(process.execPath)
    })

    it('finds nothing for a command absent from the search path, nor for a file that is not executable', () => {
      expect(findProgram({ command: 'stoa-no-such-program' })).to.equal(undefined)
      expect(findProgram(PROGRAMS.prometheus, dir)).to.equal(undefined)
      writeFileSync(join(dir, 'prometheus'), '#!/bin/sh\n')
      chmodSync(join(dir, 'prometheus'), 0o644)
      expect(findProgram(PROGRAMS.prometheus, dir)).to.equal(undefined)
      chmodSync(join(dir, 'prometheus'), 0o755)
      expect(findProgram(PROGRAMS.prometheus, dir)).to.equal(join(dir, 'prometheus'))
      rmSync(join(dir, 'prometheus'))
    })

    it('tries the listed paths after the search path (nginx lives in /usr/sbin, off a user PATH)', () => {
      const program = { command: 'stoa-no-such-program', paths: [process.execPath] }
      expect(findProgram(program, dir)).to.equal(process.execPath)
    })
  })

  describe('requireProgram', () => {
    it('skips the suite when the program is missing, printing the suite and what to install', () => {
      const hook = fakeHook()
      const lines: string[] = []
      expect(() =>
        requireProgram(hook, PROGRAMS.prometheus, { searchPath: dir, write: (l) => lines.push(l) }),
      ).to.throw('skipped')
      expect(hook.skipped).to.equal(1)
      expect(lines).to.deep.equal([
        '  skipped "metrics scraped by a real Prometheus server": prometheus is not installed (looked in PATH): ' +
          'install it with `apt-get install prometheus` (.ci/run does)\n',
      ])
    })

    it('returns the path when the program is there, printing nothing', () => {
      const hook = fakeHook()
      const lines: string[] = []
      const node = { command: 'node', install: 'the Node.js package' }
      expect(
        requireProgram(hook, node, { searchPath: dirname(process.execPath), write: (l) => lines.push(l) }),
      ).to.equal(join(dirname(process.execPath), 'node'))
      expect(hook.skipped).to.equal(0)
      expect(lines).to.deep.equal([])
    })
  })

  describe('startPrometheus', () => {
    it('rejects with what to install when the binary cannot be run, instead of an error thrown from the event loop', async () => {
      const err = await startPrometheus('127.0.0.1:1', '/metrics', join(dir, 'prometheus')).then(
        () => undefined,
        (e: unknown) => e as Error,
      )
      expect(err?.message).to.match(/^prometheus could not be started \(.*\/prometheus: ENOENT\): /)
      expect(err?.message).to.include('install it with `apt-get install prometheus`')
    })
  })
})

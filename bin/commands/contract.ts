import { readFile, writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { StoaError } from '../../actions/index.js'
import type { Contract } from '../../plugins/contracts/index.js'
import { CONTRACT_FORMAT, compareContracts } from '../../plugins/contracts/index.js'
import type { Args, Io } from '../io.js'
import { UsageError } from '../usage.js'
import { contractsOf } from './docs.js'
import { stringFlag } from './shared.js'

/**
 * `stoa contract <service> ... --save <file>` writes the services' contracts;
 * `--check <file>` compares the code with them and fails naming each breaking change that the
 * services' declared versions do not cover. Additions and allowed changes are listed on stderr.
 *
 * @example
 * await contract({ positionals: ['./math.ts'], values: { check: 'contract.json' } }, io)
 */
export async function contract(args: Args, io: Io): Promise<number> {
  const save = stringFlag(args, 'save')
  const check = stringFlag(args, 'check')
  if ((save === undefined) === (check === undefined))
    throw new UsageError('give one of --save <file> or --check <file>')
  const current = await contractsOf(args, io)
  if (save !== undefined) {
    await writeFile(resolve(io.cwd, save), `${JSON.stringify({ contracts: current }, null, 2)}\n`)
    io.stderr.write(`saved the contract of ${current.map((c) => c.service).join(', ')} to ${save}\n`)
    return 0
  }
  const saved = await readContracts(resolve(io.cwd, check!), check!)
  const { changes, failures } = compareContracts(saved, current)
  for (const c of changes) {
    const failed = failures.includes(c)
    const mark = failed ? 'BREAKING' : c.kind === 'breaking' ? 'breaking (version went up)' : 'added'
    io.stderr.write(`${mark}: ${c.service}: ${c.text}\n`)
  }
  if (failures.length === 0) {
    io.stdout.write(`contract kept: ${changes.length} change(s), none breaking\n`)
    return 0
  }
  io.stdout.write(`contract broken: ${failures.length} breaking change(s)\n`)
  return 1
}

async function readContracts(file: string, given: string): Promise<Contract[]> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch {
    throw new UsageError(`no contract file at ${given}`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new StoaError('INVALID_JSON', `${given} is not JSON`)
  }
  const list = (parsed as { contracts?: unknown } | null)?.contracts
  if (!Array.isArray(list) || !list.every((c) => (c as Contract | null)?.format === CONTRACT_FORMAT)) {
    throw new StoaError('INVALID_OPTIONS', `${given} is not a stoa contract of format ${CONTRACT_FORMAT}`)
  }
  return list as Contract[]
}

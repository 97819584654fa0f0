import { defineService } from 'stoa'
import { math } from './math.js'

/**
 * The math service as a module the `stoa` command runs:
 * `stoa act examples/math/service.ts role:math,cmd:sum left=1 right=2`.
 */
export default defineService({ name: 'math', plugins: [[math, { precision: 2 }]] })

/** A stream a command writes to: `process.stdout` or a test's collector. */
export interface Output {
  write(chunk: string): unknown
  /** Set on a terminal: results are then printed pretty rather than compact. */
  readonly isTTY?: boolean
}

/**
 * Everything a command may touch outside itself. `bin/stoa.ts` fills it from `process`; tests
 * pass their own, so every command runs in process exactly as it runs from a terminal.
 */
export interface Io {
  readonly stdout: Output
  readonly stderr: Output
  /** Read only when the message is `-`. */
  readonly stdin: AsyncIterable<string | Uint8Array>
  /** The environment: `STOA_TOKEN` is read from it. */
  readonly env: Readonly<Record<string, string | undefined>>
  /** Relative service paths resolve against it. */
  readonly cwd: string
  /**
   * A signal aborted when the process is asked to stop (SIGTERM, SIGINT). Only long-running
   * commands call it, so a short `stoa act` keeps the default signal behaviour.
   */
  stopSignal(): AbortSignal
}

/** What `node:util` parseArgs yields for a command. */
export interface Args {
  readonly positionals: readonly string[]
  readonly values: Readonly<Record<string, string | boolean | undefined>>
}

/** A command: parsed arguments and the outside world in, an exit code out. */
export type Command = (args: Args, io: Io) => Promise<number>

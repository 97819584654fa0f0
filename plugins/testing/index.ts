/**
 * `stoa/testing`: test a service the way stoa's own reliability is tested. Services run on a
 * simulated broker (acknowledgements, retries with backoff, dead letters, as on RabbitMQ and
 * JetStream) under a virtual clock; faults are injected by rule or at seeded rates (drop,
 * duplicate, delay, reorder, crash between effect and acknowledgement, lost confirms); and
 * `explore` checks an invariant over schedules of faults and interleavings that fast-check
 * generates, shrinking a failure to the shortest schedule and printing its seed.
 *
 * @module stoa/testing
 */
export type { BrokerPolicy, DeadLetter, FaultChooser, Published } from './broker.js'
export { durationMs, VirtualClock } from './clock.js'
export type { ExploreOptions, Schedule } from './explore.js'
export { ExploreFailure, explore } from './explore.js'
export type { FaultKind, FaultPoint, FaultRule, FaultSubject } from './faults.js'
export { FAULT_KINDS } from './faults.js'
export type {
  HarnessOptions,
  HarnessServiceOptions,
  LogEntry,
  RunningService,
  ServiceSource,
  StartOptions,
} from './harness.js'
export { createHarness, expectCode, Harness, SimulatedCrash } from './harness.js'

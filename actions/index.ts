/**
 * stoa's kernel for application authors: create an instance, define actions, plugins and
 * services, and the errors and types they use. Transport authors import `stoa/transport`.
 *
 * @module stoa
 */

export type {
  Action,
  ActionDef,
  ActionLike,
  ActionOptions,
  ActionTypes,
  BatchHandler,
  BatchItem,
  BatchOptions,
  SubscribeOptions,
} from './action.js'
export { action } from './action.js'
export { batchAction } from './batch.js'
export type { ClientTypes } from './client.js'
export { createClient } from './client.js'
export type { ConfigSchema, ConfigSource, ConfigValues, ResolvedConfig, SecretSchema } from './config.js'
export { REDACTED, resolveConfig, secret } from './config.js'
export type { CallOptions, Identity } from './context.js'
export { Context } from './context.js'
export type { Clock, Timer } from './deadlines.js'
export type { ResponseHeaders } from './envelope.js'
export type { ErrorCode, ErrorSpec, StoaErrorJSON } from './errors.js'
export { ERROR_CODES, ERRORS, isErrorCode, StoaError } from './errors.js'
export type { CheckStatus, Readiness, ReadyCheck } from './health.js'
export type { ActionInfo, Deliver, Hooks, RemoteTarget, RunAction } from './hooks.js'
export { eventLoopTurn, runNext } from './hooks.js'
export type { HandleOf, PluginTypes, StoaOptions } from './kernel.js'
export { createStoa, Stoa } from './kernel.js'
export type { Logger, LogLevel } from './logger.js'
export { createLogger } from './logger.js'
export type { Observe, TransportObserver } from './observe.js'
export type { Message, Pattern, PatternValue } from './pattern.js'
export { parsePattern, patternString, toPattern } from './pattern.js'
export type {
  CloseHook,
  HttpParts,
  NodeHandler,
  NodeMiddleware,
  OptionsOf,
  Plugin,
  PluginHost,
  PluginInfo,
  PluginParts,
  PluginSagas,
  PluginSetup,
  PluginSubscription,
  SetupHost,
  UpgradeHandler,
  UseOptions,
} from './plugin.js'
export { definePlugin, isPlugin } from './plugin.js'
export type { Saga, SagaActOptions, SagaDefinition, SagaRuntime, SagaServing } from './saga.js'
export type { Schema, SchemaInput, SchemaOutput } from './schema.js'
export type { SenecaEngine, SenecaUseOptions } from './seneca/index.js'
export { onSeneca } from './seneca/index.js'
export type { CreateOptions, Service, ServiceOptions, ServiceTypes } from './service.js'
export { defineService, isService } from './service.js'
export type { Transport } from './transport.js'

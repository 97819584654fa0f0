/**
 * stoa's kernel: patterns, actions, plugins, context, errors and the transport contract. The
 * only path users and transports import the kernel from.
 */
export { createStoa, Stoa } from './kernel.js'
export type { StoaOptions, ActionInfo, PluginTypes } from './kernel.js'
export { Context } from './context.js'
export type { CallOptions, Identity } from './context.js'
export { StoaError, ERROR_CODES, isErrorCode, retryable, toStoaError, unwritableResult } from './errors.js'
export type { ErrorCode, StoaErrorJSON } from './errors.js'
export { definePlugin, action, isPlugin } from './plugin.js'
export type {
  Action,
  ActionDef,
  ActionLike,
  ActionOptions,
  ActionTypes,
  CloseHook,
  OptionsOf,
  Plugin,
  PluginHost,
  PluginInfo,
  UseOptions,
} from './plugin.js'
export { describeMessage, matchesPattern, mergeMessages, parsePattern, patternString, toPattern, toMessage } from './pattern.js'
export type { Message, Pattern, PatternValue } from './pattern.js'
export { assertEventName, assertEventSubscription, assertTaskName, matchesSubscription, taskService } from './names.js'
export { isSchema, validate } from './schema.js'
export type { Schema, SchemaInput, SchemaOutput } from './schema.js'
export type { Envelope, EnvelopeKind, EnvelopeMeta, Reply } from './envelope.js'
export type { Transport, TransportClient, TransportHost } from './transport.js'
export { createLogger } from './logger.js'
export type { Logger, LogLevel } from './logger.js'
export { defineService, isService } from './service.js'
export { onSeneca } from './seneca.js'
export type { Service, ServiceOptions } from './service.js'

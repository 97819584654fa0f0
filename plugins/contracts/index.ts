/**
 * Contracts from the code: what a service promises, read from its actions, routes, tasks and
 * events, as a saved contract ({@link describeContract}), an OpenAPI 3.1 document of its web
 * routes ({@link toOpenApi}) and an AsyncAPI 3 document of its messages ({@link toAsyncApi});
 * and the check that tells a breaking change from an addition ({@link compareContracts}).
 * The `stoa docs` and `stoa contract` commands print and check them; docs/contracts.md says more.
 *
 * @module stoa/contracts
 */
export type { AsyncApiOptions } from './asyncapi.js'
export { toAsyncApi } from './asyncapi.js'
export type { ContractChange, ContractCheck } from './check.js'
export { compareContracts } from './check.js'
export type { ClientModuleOptions } from './client.js'
export { toClientModule } from './client.js'
export type { Exported, JsonSchema, SchemaSide } from './json-schema.js'
export { toJsonSchema } from './json-schema.js'
export type { Contract, ContractAction, ContractChannel, ContractRoute } from './model.js'
export { CONTRACT_FORMAT, describeContract } from './model.js'
export type { OpenApiOptions } from './openapi.js'
export { openApiPath, toOpenApi } from './openapi.js'
export type { ContractsOptions } from './options.js'
export { DOCS_CSP } from './page.js'
export { default } from './serve.js'

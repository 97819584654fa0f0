import type { ParseArgsConfig } from 'node:util'

/**
 * The command line was wrong: a missing argument, an unknown flag, a bad `key=value`. The entry
 * prints the message with the command's usage and exits 2.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/**
 * Whether `err` is a {@link UsageError}, judged by name: a module loaded through two loaders
 * (a test runner's and tsx's) can hold two copies of the class.
 */
export function isUsageError(err: unknown): err is UsageError {
  return err instanceof Error && err.name === 'UsageError'
}

/** One command as the entry and `stoa help` know it: its flags and its help text. */
export interface CommandSpec {
  readonly summary: string
  readonly usage: readonly string[]
  readonly options: NonNullable<ParseArgsConfig['options']>
  readonly help: string
}

/** Flags every command takes. */
const common = {
  help: { type: 'boolean', short: 'h' },
  verbose: { type: 'boolean' },
} as const

/**
 * Every command, by name. Kept apart from the command modules so that the entry parses the
 * arguments and prints usage without importing any of them, and `stoa act` loads only `act`.
 */
export const commands = {
  act: {
    summary: 'run one action and print its result as JSON',
    usage: [
      'stoa act <service> <pattern> [key=value ...] [--json <message> | -]',
      'stoa act --url <http://host:port | amqp://host/?service=name | nats://host:port?service=name | lambda:fn> <pattern> [key=value ...]',
    ],
    options: {
      ...common,
      url: { type: 'string' },
      service: { type: 'string' },
      json: { type: 'string' },
      token: { type: 'string' },
      timeout: { type: 'string' },
      name: { type: 'string' },
    },
    help: `Runs the action matching <pattern> plus the message built from the arguments, in this
process (<service> is a module path) or through a transport (--url), and prints the result as
JSON: pretty on a terminal, compact in a pipe. Exits 0 on success; on failure prints
"CODE: message" on stderr and exits 1; a wrong command line exits 2.

Message:
  key=value          numbers, true/false/null and JSON ({..}, [..], "..") are parsed,
                     anything else is a string; a.b=1 builds { a: { b: 1 } }
  --json <message>   a JSON object to start from; key=value pairs are set over it
  -                  read the JSON message from stdin

Options:
  --url <url>        act through a running service: http://host:port, or
                     amqp://host?service=name[&prefix=p] (prefix: of its queue names);
                     nats://host:port[?service=name&prefix=p] (without a service, the
                     pattern's role names it: role:math asks math);
                     lambda:<function>[?region=r&endpoint=url&qualifier=alias]
                     (credentials and region: the standard AWS environment)
  --service <name>   the service whose RPC queue (amqp) or subject (nats) answers, instead of ?service=
  --token <jwt>      the identity to act with (default: $STOA_TOKEN)
  --timeout <ms>     give up after this long (default: the service's, 30 000)
  --name <name>      the service's name, when the module does not define one
  --verbose          stacks on failure, and the service's log on stderr

Examples:
  stoa act ./math.ts role:math,cmd:sum left=1 right=2
  echo '{"left":1,"right":2}' | stoa act ./math.js role:math,cmd:sum -
  stoa act --url http://127.0.0.1:3000 role:math,cmd:sum left=1 right=2
  stoa act --url lambda:math?region=eu-west-1 role:math,cmd:sum left=1 right=2`,
  },
  send: {
    summary: 'send a task to its service and print whether it was accepted',
    usage: [
      'stoa send <service> <task> [key=value ...] [--json <message> | -]',
      'stoa send --url <http://host:port | amqp://host | nats://host:port> <task> [key=value ...]',
    ],
    options: {
      ...common,
      url: { type: 'string' },
      service: { type: 'string' },
      json: { type: 'string' },
      token: { type: 'string' },
      name: { type: 'string' },
    },
    help: `Sends the task <task> (<service>.<entity>.<request>, like tally.vote.record) with the
message built from the arguments, as "stoa act" builds it. In process (<service> is a module
path) the module's task handler runs here: the command waits for it and fails as it fails.
Through a transport (--url) it returns once the task is accepted (queued by RabbitMQ or NATS,
taken by an HTTP listener); the task's service is named by the task itself. Prints
{"task":"<task>","accepted":true}.

A task given to "stoa act" instead runs as an act on the task's pattern and prints what the
handler returns (usually null): use "stoa send" for tasks.

Options:
  --url <url>        send through a running system: http://host:port (that service's
                     listener), amqp://host[?prefix=p], nats://host:port[?prefix=p]
  --token <jwt>      the identity to send with (default: $STOA_TOKEN)
  --name <name>      the service's name, when the module does not define one
  --verbose          stacks on failure, and the service's log on stderr

Examples:
  stoa send ./tally.ts tally.vote.record voter=v1 choice=a
  stoa send --url amqp://127.0.0.1 tally.vote.record voter=v1 choice=a`,
  },
  emit: {
    summary: 'emit an event and print whether it was accepted',
    usage: [
      'stoa emit <service> <event> [key=value ...] [--json <message> | -]',
      'stoa emit --url <http://host:port | amqp://host | nats://host:port> <event> [key=value ...]',
    ],
    options: {
      ...common,
      url: { type: 'string' },
      service: { type: 'string' },
      json: { type: 'string' },
      token: { type: 'string' },
      name: { type: 'string' },
    },
    help: `Emits the event <event> (<entity>.<verb-in-past-tense>, like vote.recorded) with the
message built from the arguments. In process (<service> is a module path) the module's own
subscribers run here and the command waits for them; through a transport (--url) every
subscribing service hears it once. Prints {"event":"<event>","accepted":true}.

Options:
  --url <url>        emit through a running system: http://host:port, amqp://host[?prefix=p],
                     nats://host:port[?prefix=p]
  --token <jwt>      the identity to emit with (default: $STOA_TOKEN)
  --name <name>      the service's name, when the module does not define one
  --verbose          stacks on failure, and the service's log on stderr

Examples:
  stoa emit ./audit.ts vote.recorded voter=v1
  stoa emit --url amqp://127.0.0.1 vote.recorded voter=v1`,
  },
  token: {
    summary: 'print a development user token for a service that loads the jwt plugin',
    usage: ['stoa token --sub <user> [--roles r1,r2] [--secret <secret>] [--ttl 1h] [--audience a] [--issuer i]'],
    options: {
      ...common,
      sub: { type: 'string' },
      roles: { type: 'string' },
      secret: { type: 'string' },
      ttl: { type: 'string' },
      audience: { type: 'string' },
      issuer: { type: 'string' },
      json: { type: 'boolean' },
    },
    help: `Prints a user token (HS256) signed with the secret the service's jwt plugin verifies,
for trying a gateway by hand. The token holds sub, roles, iat, exp and a jti. Needs the
jsonwebtoken package, as the jwt plugin does.

Options:
  --sub <user>       the user's id (required)
  --roles <list>     global roles, comma-separated: user-client,user-mover
  --secret <secret>  the HS256 secret, at least 32 characters (default: $JWT_SECRET)
  --ttl <lifetime>   how long it lives: 90s, 30m, 1h (the default), 7d; at most 31d
  --audience <aud>   its aud claim, when the service requires one
  --issuer <iss>     its iss claim, when the service requires one
  --json             print {"token": "..."} instead of the bare token

Example:
  curl -H "authorization: Bearer $(stoa token --sub u1 --roles user-client)" http://127.0.0.1:3000/votes`,
  },
  serve: {
    summary: 'start a service on its transports until SIGTERM or SIGINT',
    usage: [
      'stoa serve <service> [--http host:port [--tls-key file --tls-cert file]] [--amqp url] [--nats url] [--remote service=url,...] [--web host:port] [--health host:port] [--metrics host:port] [--grace-ms n] [--drain-delay-ms n] [--env-file file] [--pretty] [--watch]',
    ],
    options: {
      ...common,
      http: { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-cert': { type: 'string' },
      amqp: { type: 'string' },
      nats: { type: 'string' },
      remote: { type: 'string' },
      web: { type: 'string' },
      health: { type: 'string' },
      'grace-ms': { type: 'string' },
      'drain-delay-ms': { type: 'string' },
      'env-file': { type: 'string' },
      metrics: { type: 'string' },
      pretty: { type: 'boolean' },
      watch: { type: 'boolean' },
      name: { type: 'string' },
    },
    help: `Starts the service with the transports asked for, prints one line per address it
listens on ("<service> listening on <url>"), and on SIGTERM or SIGINT stops taking work,
finishes what is in flight and exits 0. A second signal exits at once with 1.

On the signal, /readyz answers 503 at once; after --drain-delay-ms (SIGTERM only) the
listeners stop accepting, AMQP consumers are cancelled, work in flight gets --grace-ms to
finish and be acknowledged, and what is still running then goes back to its queue.

Options:
  --http <host:port>   stoa's HTTP transport (POST /act, GET /healthz, /readyz); port 0
                       picks a free port
  --tls-key <file>     with --tls-cert: serve --http over HTTPS with this PEM private key
  --tls-cert <file>    and this PEM certificate (followed by any intermediates)
  --amqp <url>         RabbitMQ: the service's RPC queue, task queues and event subscriptions;
                       ?prefix=p sets the first segment of its exchange and queue names
  --nats <url>         NATS with JetStream: the service's request subject, task stream and
                       event consumer; ?prefix=p sets the first token of its subjects and streams
  --remote <service>=<url>[,…]
                       reach a remote service the module declares in its clients over
                       HTTP, at its --http URL; the others go through --amqp or --nats
  --web <host:port>    the routes of the service's web plugin, answered on node:http
                       directly; a route that names express middleware (a seneca-web
                       map's middleware) goes to express, which must then be installed.
                       In front of them, what the plugins serve over HTTP (a pages
                       plugin's files, the contracts plugin's /docs, /metrics), and
                       GET /healthz and /readyz; a stream route takes server-sent events
                       and WebSockets (the ws package). Anything else answers a JSON 404
  --health <host:port> GET /healthz (alive) and /readyz (ready) alone, for probes
  --metrics <host:port> GET /metrics alone on its own port (a service loading the metrics
                       plugin also serves /metrics on --http and --web)
  --grace-ms <n>       how long in-flight work may take to finish on shutdown (10000)
  --drain-delay-ms <n> on SIGTERM, how long to keep serving with /readyz at 503 before
                       refusing work, so a load balancer stops sending first (0)
  --env-file <file>    KEY=value lines for the service's settings; the environment wins
  --pretty             readable log lines (pino-pretty) instead of JSON; the default on a terminal
  --watch              start again whenever a file the service loaded changes (node's own
                       watch mode): the running one closes gracefully first
  --name <name>        the service's name, when the module does not define one
  --verbose            log at debug level, with stacks

A service that declares settings (defineService({ config })) reads each NAME from the
variable NAME or from the file NAME_FILE names, logs them at start with secrets redacted, and
stops with INVALID_CONFIG, naming the variable and its rule, before it takes any work if one is
missing or invalid ("stoa config <service>" shows what it would resolve).

The log level is LOG_LEVEL (trace, debug, info, warn, error, fatal, silent; default info).

Without --amqp or --nats, the service's own tasks and events travel in process.

A module's defineService({ clients: { auth: ['role:auth'] } }) names the services it calls:
each is reached on its own queue (--amqp) or subject (--nats), or at its --remote URL. At start
serve warns about a declared client nothing reaches, a web route (with --web) and an action's
declared acts that no action here and no client answers.

Example:
  stoa serve ./math.ts --http 127.0.0.1:3000`,
  },
  list: {
    summary: 'list the actions of a service',
    usage: [
      'stoa list <service> [--json]',
      'stoa list --url <http://host:port | amqp://host | nats://host:port> [--service name] [--json]',
    ],
    options: {
      ...common,
      json: { type: 'boolean' },
      name: { type: 'string' },
      url: { type: 'string' },
      service: { type: 'string' },
    },
    help: `Prints each action of the service: its pattern, the keys its schema accepts
(a "?" marks an optional one; "schema" when they cannot be told), the permission it
requires and its description; then its tasks, event subscriptions and hooks.

With --url it asks a running service, one that stoa serve runs (it answers
role:stoa,cmd:list, a public action that tells patterns and permissions, never data), for
the list of what it runs now.

Options:
  --json             one JSON array, for scripts
  --name <name>      the service's name, when the module does not define one
  --url <url>        a running service: its --http listener (http://host:port), or its
                     queue or subject (amqp://host[?prefix=p], nats://host:port[?prefix=p])
  --service <name>   with an amqp:// or nats:// URL, the service to ask

Examples:
  stoa list ./math.ts
  stoa list --url http://127.0.0.1:3000
  stoa list --url 'amqp://127.0.0.1?prefix=vote' --service tally`,
  },
  docs: {
    summary: 'print the OpenAPI 3.1 or AsyncAPI 3 document of a service',
    usage: ['stoa docs <service> [<service> ...] --format openapi|asyncapi [--yaml] [--prefix p] [--nats host:port]'],
    options: {
      ...common,
      format: { type: 'string' },
      yaml: { type: 'boolean' },
      prefix: { type: 'string' },
      amqp: { type: 'string' },
      nats: { type: 'string' },
      title: { type: 'string' },
      name: { type: 'string' },
    },
    help: `Prints the service's contract as a document, JSON on stdout (YAML with --yaml), made
from the module stoa serve runs, started without any transport. Schemas that cannot be
exported are named on stderr; the action is still listed. Several services make one
document: a gateway's routes get the schemas of the actions other services answer.

Options:
  --format openapi    OpenAPI 3.1: the web plugin's routes, parameters, bodies, results,
                      error answers by code, and the bearer JWT and login cookie schemes
  --format asyncapi   AsyncAPI 3: task queues, the events exchange and queues, the RPC
                      queue with its reply, the dead-letter queue, with AMQP bindings
  --yaml              YAML instead of JSON (needs the package yaml)
  --prefix <p>        the AMQP/NATS prefix of queue and exchange names (default stoa)
  --amqp <host:port>  the RabbitMQ server named in servers (default 127.0.0.1:5672)
  --nats <host:port>  add the NATS server and the channels as NATS subjects
  --title <text>      the document's title (default the services' names)

Examples:
  stoa docs ./math.ts --format openapi > openapi.json
  stoa docs examples/vote/services/gateway.ts --format asyncapi --prefix vote --yaml`,
  },
  contract: {
    summary: "save a service's contract, or check the code against a saved one",
    usage: ['stoa contract <service> [<service> ...] --save <file> | --check <file>'],
    options: { ...common, save: { type: 'string' }, check: { type: 'string' }, name: { type: 'string' } },
    help: `--save writes the contract of the service (its actions with their message and result
schemas, routes, tasks and events) as JSON. --check compares the code with a saved contract
and exits 1 naming each breaking change: an action, route, task or event removed or renamed,
a message field that became required, a result field removed, a type narrowed. Additions
pass; so does a breaking change when the service's declared version went up a major (a
minor under 1.0.0). The contract file may hold several services.

Examples:
  stoa contract ./math.ts --save contract.json
  stoa contract ./math.ts --check contract.json`,
  },
  client: {
    summary: 'write a typed fetch client of a service for other code bases and browsers',
    usage: ['stoa client <service> [<service> ...] --out <file> [--js]'],
    options: { ...common, out: { type: 'string' }, js: { type: 'boolean' }, name: { type: 'string' } },
    help: `Writes a TypeScript module with no dependencies: the message and result types of each
web route (by operation name, as in the OpenAPI document: vote.cast) and each action (by
pattern), the closed list of error codes, and createClient({ baseUrl, token }), whose
call(name, msg) and act(pattern, msg) use fetch and reject with a StoaClientError carrying
the code and status.

Options:
  --out <file>   where to write it
  --js           plain JavaScript (an ES module), for pages served as they are

Example:
  stoa client examples/vote/services/gateway.ts examples/vote/services/auth.ts --out client.ts`,
  },
  routes: {
    summary: "list the HTTP routes of a service's web plugin",
    usage: ['stoa routes <service> [--json]'],
    options: { ...common, json: { type: 'boolean' }, name: { type: 'string' } },
    help: `Prints the route table of the service's web plugin: method, path and the pattern
each route acts on.

Options:
  --json      one JSON array, for scripts
  --name      the service's name, when the module does not define one`,
  },
  migrate: {
    summary: "show or apply the migrations of a service's database",
    usage: ['stoa migrate <service> status|up'],
    options: { ...common, name: { type: 'string' } },
    help: `Loads the service without starting it and, through its postgres plugin (stoa/postgres),
prints where its database's schema stands as JSON (status: the applied and pending steps, and
any problem), or applies the pending steps (up) in one transaction under the advisory lock, as
a start does. The database is the plugin's url option, else DATABASE_URL, else PGlite.

status exits 1, naming each problem on stderr, when the service would refuse to start: an
applied step that was edited, or one the code does not know.

Options:
  --name      the service's name, when the module does not define one

Example:
  DATABASE_URL=postgres://127.0.0.1/tally stoa migrate ./tally.ts status`,
  },
  step: {
    summary: 'run one action of a step service with its clients, then exit',
    usage: ['stoa step <service> <pattern> [key=value ...] [--amqp <url> | --nats <url>]'],
    options: { ...common, amqp: { type: 'string' }, nats: { type: 'string' }, name: { type: 'string' } },
    help: `Starts the service with its clients and no listener, runs the action matching <pattern>
once with the message built from the arguments (as "stoa act" builds it), closes gracefully
(the tasks and events it sent confirmed by the broker) and exits: 0 with the result printed as
JSON, else "CODE: message" on stderr and the error's exit code. The shape a Kubernetes Job or
CronJob, a Lambda or a cron line runs.

Options:
  --amqp <url>   the RabbitMQ its tasks and events go to (amqp://host[?prefix=p]), and the
                 services its module declares (defineService clients) are called through
  --nats <url>   the same on NATS JetStream
  --name <name>  the service's name, when the module does not define one

Example:
  stoa step ./export.ts role:export,cmd:nightly day=2026-12-01 --amqp amqp://127.0.0.1`,
  },
  saga: {
    summary: "list, show, signal or cancel a running service's sagas",
    usage: [
      'stoa saga list (--url <url> | --amqp <url> --service <name>) [state=<state>] [limit=<n>]',
      'stoa saga status <id> (--url <url> | --amqp <url> --service <name>)',
      'stoa saga signal <id> <name> [key=value ...] (--url <url> | --amqp <url> --service <name>)',
      'stoa saga cancel <id> [reason ...] (--url <url> | --amqp <url> --service <name>)',
    ],
    options: {
      ...common,
      url: { type: 'string' },
      amqp: { type: 'string' },
      nats: { type: 'string' },
      service: { type: 'string' },
      token: { type: 'string' },
      timeout: { type: 'string' },
    },
    help: `Calls the saga plugin's actions (role:saga,cmd:list|status|signal|cancel) of a running
service through the transport --url names (or --amqp, --nats), as "stoa act --url" does, and
prints the answer. status shows the saga's state and each step's state (an act still in flight
as running, with its start and attempt), attempts and times; signal gives the saga's
waitFor(<name>) the data built from key=value pairs; cancel makes the saga undo its steps at its
next sleep or wait. See docs/sagas.md.

Options:
  --url <url>        http://host:port, amqp://host?service=name[&prefix=p], nats://host:port?service=name
  --amqp <url>       RabbitMQ: amqp://host[:port][?prefix=p], with --service naming the service
                     whose request queue answers (the same as --url amqp://…?service=)
  --nats <url>       NATS: nats://host:port[?prefix=p], with --service
  --service <name>   the service whose request queue or subject answers, instead of ?service=
  --token <jwt>      the identity to act with (default: $STOA_TOKEN)
  --timeout <ms>     give up after this long

Examples:
  stoa saga list --url http://127.0.0.1:3000 state=compensation_failed
  stoa saga status order:42 --amqp amqp://127.0.0.1 --service checkout
  stoa saga status order:42 --url amqp://127.0.0.1?service=checkout&prefix=shop
  stoa saga signal order:42 shipped parcel=7 --url http://127.0.0.1:3000`,
  },
  config: {
    summary: 'print the settings a service would start with, secrets redacted',
    usage: ['stoa config <service> [--env-file <file>]'],
    options: { ...common, 'env-file': { type: 'string' } },
    help: `Resolves the settings the service declares (defineService({ config })) as "stoa serve"
would, without starting anything, and prints them as JSON: { service, config, origin }, with
each secret shown as "[redacted]", a password in a URL as "***", and where each value came from
(env, file: <NAME>_FILE, or default). Each setting NAME is read from the variable NAME, or from
the file the variable NAME_FILE names (a Docker or Kubernetes secret). A missing or invalid
setting prints "INVALID_CONFIG: ..." naming every bad variable and its rule, and exits 1.

Options:
  --env-file <file>  KEY=value lines read first; the environment overrides them

Example:
  JWT_SECRET_FILE=/run/secrets/jwt stoa config examples/vote/services/auth.ts`,
  },
  new: {
    summary: 'write a new service project: module, plugin, test, Dockerfile, Kubernetes lines',
    usage: ['stoa new <name> [--kind worker|gateway|step] [--dir <folder>]'],
    options: { ...common, kind: { type: 'string' }, dir: { type: 'string' } },
    help: `Writes a new service project into <folder> (default ./<name>, empty or absent):

  package.json     depends on this stoa and zod; npm test runs node --test
  plugin.js        a plugin with one typed action, role:<name>,cmd:greet
  service.js       the service: its settings (defineService({ config })) and plugins
  service.test.js  the action over the memory transport, and a bad setting refused
  Dockerfile       multi-stage, production dependencies only, non-root, HEALTHCHECK
  k8s.yaml         the lines to add to your manifests: a Deployment with probes, drain and
                   grace, a PodDisruptionBudget and an autoscaler (worker, gateway), or a
                   CronJob (step); its ConfigMap and Secret

Kinds: worker (serves --amqp), gateway (adds the web plugin and a route, --web), step (runs
once: stoa act, as a Kubernetes Job or CronJob). Then: cd <name> && npm install && npm test.

Example:
  stoa new greeter --kind gateway`,
  },
  dlq: {
    summary: "list, show, redrive or purge a service's dead letters on RabbitMQ or NATS",
    usage: [
      'stoa dlq list --amqp <url> --service <name> [--code CODE] [--older-than 10m] [--id id,...] [--count n]',
      'stoa dlq show <id> --amqp <url> --service <name>',
      'stoa dlq redrive --amqp <url> --service <name> [filters]',
      'stoa dlq purge --amqp <url> --service <name> [filters] [--yes]',
      'stoa dlq list|show|redrive|purge --nats <url> --service <name> [...]',
    ],
    options: {
      ...common,
      amqp: { type: 'string' },
      nats: { type: 'string' },
      service: { type: 'string' },
      code: { type: 'string' },
      'older-than': { type: 'string' },
      id: { type: 'string' },
      count: { type: 'string' },
      yes: { type: 'boolean' },
    },
    help: `Works on the dead-letter queue <prefix>.dlq.<service> over AMQP itself (no management
plugin): each letter is taken without acknowledging it and goes back in place when the
command ends, or if it is killed.

  list      prints { queue, total, letters }: each letter's id, code, message, attempts,
            trace id, queue, task or event name and age (ms); at most --count (100)
  show <id> one letter with its headers, properties and body
  redrive   publishes each selected letter back to the queue it failed on, its tries reset,
            and removes the dead letter only once the broker confirmed the copy: killed
            half-way, every letter is in the dead-letter queue or back in its queue (one that
            was between the two may be in both, and then runs again). One JSON audit line per
            letter on stderr; { queue, redriven } on stdout
  purge     removes the selected letters for good, after asking (type "yes") unless --yes

With --nats it works on the dead-letter stream <prefix>_dlq_<service> of NATS JetStream: letters
are read by sequence (listing changes nothing); a letter's id is its message id, or seq-<n>.
redrive publishes each task back to its subject and deletes the dead letter only once JetStream
acknowledged the copy; an event is not redriven (its subject reaches every subscriber, not only
the service that failed it): it stays, counted in { skipped }.

Options:
  --amqp <url>         the broker; ?prefix=p as the services were served with (STOA_AMQP_URL)
  --nats <url>         or the NATS server; ?prefix=p likewise (STOA_NATS_URL)
  --service <name>     the service whose dead letters these are (or ?service= in the URL)
  --code <CODE>        only letters that failed with this error code
  --older-than <d>     only letters dead-lettered at least this long ago: 30s, 10m, 2h, 1d
  --id <id,...>        only these message ids
  --count <n>          at most this many, oldest first
  --yes                purge without asking

Example:
  stoa dlq redrive --amqp 'amqp://127.0.0.1?prefix=vote' --service tally --code UNAVAILABLE`,
  },
  help: {
    summary: 'show help for stoa or for one command',
    usage: ['stoa help [command]'],
    options: { ...common },
    help: 'Prints the list of commands, or the full help of one command.',
  },
} as const satisfies Record<string, CommandSpec>

/** The name of a command. */
export type CommandName = keyof typeof commands

/** Whether `name` is a command. */
export function isCommand(name: string): name is CommandName {
  return Object.hasOwn(commands, name)
}

/** `stoa --help`: the commands, one line each. */
export function overview(): string {
  const names = Object.keys(commands) as CommandName[]
  const width = Math.max(...names.map((n) => n.length))
  const lines = names.map((n) => `  ${n.padEnd(width)}  ${commands[n].summary}`)
  return `stoa: pattern-matched actions from the command line

Usage:
  stoa <command> [arguments] [options]
  stoa --version

Commands:
${lines.join('\n')}

Run "stoa help <command>" for a command's arguments and options.
`
}

/** `stoa help <command>`: the usage lines and the full text. */
export function commandHelp(name: CommandName): string {
  const spec: CommandSpec = commands[name]
  return `Usage:\n${spec.usage.map((u) => `  ${u}`).join('\n')}\n\n${spec.help}\n`
}

/** The short form printed after a usage error. */
export function shortUsage(name: CommandName | undefined): string {
  if (name === undefined) return 'Run "stoa --help" for the list of commands.\n'
  const spec: CommandSpec = commands[name]
  return `Usage:\n${spec.usage.map((u) => `  ${u}`).join('\n')}\nRun "stoa help ${name}" for more.\n`
}

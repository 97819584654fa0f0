import { context, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'

/**
 * Registers an OpenTelemetry SDK that keeps finished spans in memory, with the async-hooks
 * context manager a Node SDK registers; `close()` unregisters both.
 */
export function memoryTracing(): { exporter: InMemorySpanExporter; close: () => Promise<void> } {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  const manager = new AsyncLocalStorageContextManager().enable()
  context.setGlobalContextManager(manager)
  trace.setGlobalTracerProvider(provider)
  return {
    exporter,
    close: async () => {
      await provider.shutdown()
      trace.disable()
      context.disable()
    },
  }
}

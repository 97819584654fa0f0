import type { DocumentNode, FragmentDefinitionNode, SelectionSetNode } from 'graphql'

type GraphQL = typeof import('graphql')

/** How deep a document's selections nest, and how many fields it selects with fragments spread. */
export interface Weight {
  readonly depth: number
  readonly cost: number
}

/**
 * Weighs a parsed document: the deepest selection over its operations (top fields are depth 1)
 * and the fields selected in all, each fragment counted where it is spread. The walk stops
 * once either passes its limit, so a document of fragments spreading fragments (a "fragment
 * bomb") costs no more to refuse than the limit; a fragment that spreads itself counts as
 * too deep.
 */
export function weigh(gql: GraphQL, doc: DocumentNode, maxDepth: number, maxCost: number): Weight {
  const fragments = new Map<string, FragmentDefinitionNode>()
  for (const d of doc.definitions) if (d.kind === gql.Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d)
  let cost = 0
  let deepest = 0
  const walk = (set: SelectionSetNode, depth: number, spreading: ReadonlySet<string>): void => {
    for (const s of set.selections) {
      if (cost > maxCost || deepest > maxDepth) return
      if (s.kind === gql.Kind.FIELD) {
        cost++
        if (depth > deepest) deepest = depth
        if (s.selectionSet !== undefined) walk(s.selectionSet, depth + 1, spreading)
      } else if (s.kind === gql.Kind.INLINE_FRAGMENT) walk(s.selectionSet, depth, spreading)
      else {
        const name = s.name.value
        const f = fragments.get(name)
        if (f === undefined) continue
        if (spreading.has(name)) {
          deepest = maxDepth + 1
          return
        }
        walk(f.selectionSet, depth, new Set([...spreading, name]))
      }
    }
  }
  for (const d of doc.definitions) if (d.kind === gql.Kind.OPERATION_DEFINITION) walk(d.selectionSet, 1, new Set())
  return { depth: deepest, cost }
}

/** An entry of an {@link InFlight} list: the links live in the entry itself. */
export interface Linked<T> {
  prev: T | undefined
  next: T | undefined
  linked: boolean
}

/**
 * The calls in flight, as a doubly linked list threaded through the entries themselves.
 * Adding and removing are a few field writes and allocate nothing; the `Set` this replaces,
 * seeing an add and a delete on every asynchronous call, cost about 50 ns more CPU per call
 * (of ~290). Walking the list (the deadline sweep, close) is rare. A walk may remove the
 * entry it is on, not others.
 *
 * @example
 * const calls = new InFlight<Call>()
 * calls.add(call)
 * if (calls.delete(call) && calls.size === 0) idle()
 */
export class InFlight<T extends Linked<T>> implements Iterable<T> {
  private head: T | undefined = undefined
  private tail: T | undefined = undefined
  private count = 0

  /** How many entries are linked. */
  get size(): number {
    return this.count
  }

  /** Links `item` at the end; it must not be linked already. */
  add(item: T): void {
    item.prev = this.tail
    item.next = undefined
    if (this.tail === undefined) this.head = item
    else this.tail.next = item
    this.tail = item
    item.linked = true
    this.count++
  }

  /** Unlinks `item`; false when it was not linked (already removed). */
  delete(item: T): boolean {
    if (!item.linked) return false
    const { prev, next } = item
    if (prev === undefined) this.head = next
    else prev.next = next
    if (next === undefined) this.tail = prev
    else next.prev = prev
    item.prev = undefined
    item.next = undefined
    item.linked = false
    this.count--
    return true
  }

  /** Unlinks every entry. */
  clear(): void {
    for (const item of this) this.delete(item)
  }

  *[Symbol.iterator](): Iterator<T> {
    let item = this.head
    while (item !== undefined) {
      // Read the next link first: the caller may remove the entry it was given.
      const next = item.next
      yield item
      item = next
    }
  }
}

// Saved list views: a name for a list's search, filters, sort, columns and page size, kept per
// user on the server (`/api/v1/list-views`). The server stores the state as the browser gives
// it; this file is the one place that writes and reads that shape.
import type { FilterState } from '../filters'
import { compactFilters, DEFAULT_PER_PAGE, PAGE_SIZES, type ListState } from '../listState'

/** The shape's version, so a later app can read what an earlier one saved. */
const SHAPE = 1

export interface SavedListState {
  q: string
  filters: FilterState
  /** The server's sort syntax; empty for the default order. */
  sort: string
  /** The columns chosen, in the user's order; null for the entity's default columns. */
  columns: string[] | null
  perPage: number
}

/** What a list shows now, as a view would keep it. */
export function captureState(list: ListState, columns: string[] | null): SavedListState {
  return {
    q: list.q.trim(),
    filters: compactFilters(list.filters),
    sort: list.sort,
    columns: columns ? [...columns] : null,
    perPage: list.perPage,
  }
}

/** The JSON object the server stores. */
export function stateJson(state: SavedListState): Record<string, unknown> {
  return { v: SHAPE, ...state }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** A stored state read back; anything unreadable falls back to the list's defaults. */
export function readState(raw: unknown): SavedListState {
  const s = isObject(raw) ? raw : {}
  const perPage = typeof s.perPage === 'number' && (PAGE_SIZES as readonly number[]).includes(s.perPage) ? s.perPage : DEFAULT_PER_PAGE
  const filters: FilterState = {}
  if (isObject(s.filters)) {
    for (const [name, f] of Object.entries(s.filters)) if (isObject(f)) filters[name] = f
  }
  return {
    q: typeof s.q === 'string' ? s.q : '',
    filters: compactFilters(filters),
    sort: typeof s.sort === 'string' ? s.sort : '',
    columns: Array.isArray(s.columns) && s.columns.every((c): c is string => typeof c === 'string') ? s.columns : null,
    perPage,
  }
}

/** Whether the list shows exactly what the view keeps (the view is the one in use). */
export function sameState(a: SavedListState, b: SavedListState): boolean {
  return JSON.stringify(stateJson(a)) === JSON.stringify(stateJson(b))
}

/** The list with the view applied: from its first page, out of the recycle bin. */
export function appliedList(list: ListState, view: SavedListState): ListState {
  return { ...list, page: 1, bin: false, q: view.q, filters: view.filters, sort: view.sort, perPage: view.perPage }
}

/**
 * Fields the view filters or sorts on that the user can no longer see (a role changed, a field
 * was hidden or removed); the list would leave them out, so the view would not show what it did.
 */
export function unseenFields(view: SavedListState, visible: ReadonlySet<string>): string[] {
  const sortFields = view.sort
    .split(',')
    .map((k) => k.trim().replace(/^-/, ''))
    .filter((k) => k !== '' && k !== 'updated_at' && k !== 'created_at')
  return [...new Set([...Object.keys(view.filters), ...sortFields])].filter((name) => !visible.has(name))
}

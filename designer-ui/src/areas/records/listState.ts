// A record list's state lives in the address (page, sort, search, filters, recycle bin), so a
// reload, a shared link or a return after log-in shows the same list.
import type { LocationQuery, LocationQueryRaw } from 'vue-router'
import type { FilterState } from './filters'

export const PAGE_SIZES = [20, 50, 100] as const
export const DEFAULT_PER_PAGE = 50

export interface ListState {
  page: number
  perPage: number
  /** The server's sort syntax: `name`, `-updated_at`; empty for the server's default. */
  sort: string
  q: string
  filters: FilterState
  /** The recycle bin: deleted records. */
  bin: boolean
}

function first(v: LocationQuery[string] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v
  return typeof s === 'string' ? s : undefined
}

function positive(v: string | undefined, fallback: number): number {
  const n = Number(v)
  return Number.isInteger(n) && n > 0 ? n : fallback
}

function parseFilters(text: string | undefined): FilterState {
  if (!text) return {}
  try {
    const v: unknown = JSON.parse(text)
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as FilterState) : {}
  } catch {
    return {}
  }
}

export function stateFromQuery(query: LocationQuery): ListState {
  const perPage = positive(first(query.per_page), DEFAULT_PER_PAGE)
  return {
    page: positive(first(query.page), 1),
    perPage: (PAGE_SIZES as readonly number[]).includes(perPage) ? perPage : DEFAULT_PER_PAGE,
    sort: first(query.sort) ?? '',
    q: first(query.q) ?? '',
    filters: parseFilters(first(query.f)),
    bin: first(query.bin) === '1',
  }
}

/** Drops blank filters so the address stays short. */
export function compactFilters(filters: FilterState): FilterState {
  const out: FilterState = {}
  for (const [name, f] of Object.entries(filters)) {
    const kept = Object.fromEntries(
      Object.entries(f).filter(([, v]) => v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0)),
    )
    if (Object.keys(kept).length > 0) out[name] = kept
  }
  return out
}

export function queryFromState(state: ListState): LocationQueryRaw {
  const query: LocationQueryRaw = {}
  if (state.page > 1) query.page = String(state.page)
  if (state.perPage !== DEFAULT_PER_PAGE) query.per_page = String(state.perPage)
  if (state.sort) query.sort = state.sort
  if (state.q.trim()) query.q = state.q.trim()
  const filters = compactFilters(state.filters)
  if (Object.keys(filters).length > 0) query.f = JSON.stringify(filters)
  if (state.bin) query.bin = '1'
  return query
}

/** el-table's sort event as the server's sort syntax. */
export function sortFromTable(prop: string | null, order: 'ascending' | 'descending' | null): string {
  if (!prop || !order) return ''
  return order === 'descending' ? `-${prop}` : prop
}

export function tableSortOf(sort: string): { prop: string; order: 'ascending' | 'descending' } | undefined {
  if (!sort) return undefined
  const first = sort.split(',')[0]!
  return first.startsWith('-') ? { prop: first.slice(1), order: 'descending' } : { prop: first, order: 'ascending' }
}

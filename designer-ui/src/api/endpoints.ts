// Typed calls of the API, grouped by area. Pages and stores call these, never `fetch`.
import { useApi } from '.'
import type { EntityDefinition, FilterExpr, RecordData, RecordItem, RecordPage } from './types'

function etag(version: number): string {
  return `"${version}"`
}

function commaList(items: readonly string[] | undefined): string | undefined {
  return items && items.length > 0 ? items.join(',') : undefined
}

export const sessionApi = {
  me() {
    const { raw, call } = useApi()
    return call(raw.GET('/api/v1/me'))
  },
  login(username: string, password: string) {
    const { raw, call } = useApi()
    return call(raw.POST('/api/v1/auth/login', { body: { username, password } }))
  },
  async logout(): Promise<void> {
    const { raw, send } = useApi()
    await send(raw.POST('/api/v1/auth/logout'))
  },
}

export const entitiesApi = {
  list() {
    const { raw, call } = useApi()
    return call(raw.GET('/api/v1/entities'))
  },
  get(entity: string) {
    const { raw, call } = useApi()
    return call(raw.GET('/api/v1/entities/{entity}', { params: { path: { entity } } }))
  },
  create(definition: EntityDefinition) {
    const { raw, call } = useApi()
    return call(raw.POST('/api/v1/entities', { body: definition }))
  },
  /** A new version of the definition; its `version` (the one read) is the precondition. */
  replace(entity: string, definition: EntityDefinition) {
    const { raw, call } = useApi()
    return call(raw.PUT('/api/v1/entities/{entity}', { params: { path: { entity } }, body: definition }))
  },
  /** How many stored records the definition would make invalid, with a few examples. */
  impact(entity: string, definition: EntityDefinition) {
    const { raw, call } = useApi()
    return call(raw.POST('/api/v1/entities/{entity}/impact', { params: { path: { entity } }, body: definition }))
  },
  /** Checks a definition as saving it would, writing nothing; every problem comes in one 400. */
  check(definition: EntityDefinition, intent: 'create' | 'update') {
    const { raw, call } = useApi()
    return call(raw.POST('/api/v1/entity-checks', { params: { query: { intent } }, body: definition }))
  },
  versions(entity: string, page = 1, perPage = 50) {
    const { raw, call } = useApi()
    return call(
      raw.GET('/api/v1/entities/{entity}/versions', { params: { path: { entity }, query: { page, per_page: perPage } } }),
    )
  },
  version(entity: string, version: number) {
    const { raw, call } = useApi()
    return call(raw.GET('/api/v1/entities/{entity}/versions/{version}', { params: { path: { entity, version } } }))
  },
}

export interface RecordListQuery {
  page?: number
  perPage?: number
  /** `-updated_at`, `name`, …: the server's sort syntax. */
  sort?: string
  q?: string
  filter?: FilterExpr | null
  /** The recycle bin instead of the live records. */
  deleted?: boolean
  unmask?: readonly string[]
}

export type ExportFormat = 'csv' | 'xlsx'

export const recordsApi = {
  list(entity: string, query: RecordListQuery = {}): Promise<RecordPage> {
    const { raw, call } = useApi()
    return call(
      raw.GET('/api/v1/records/{entity}', {
        params: {
          path: { entity },
          query: {
            page: query.page,
            per_page: query.perPage,
            sort: query.sort || undefined,
            q: query.q?.trim() || undefined,
            filter: query.filter ? JSON.stringify(query.filter) : undefined,
            deleted: query.deleted ? 'true' : undefined,
            unmask: commaList(query.unmask),
          },
        },
      }),
    )
  },
  get(entity: string, id: string, unmask?: readonly string[]): Promise<RecordItem> {
    const { raw, call } = useApi()
    return call(
      raw.GET('/api/v1/records/{entity}/{id}', {
        params: { path: { entity, id }, query: { unmask: commaList(unmask) } },
      }),
    )
  },
  create(entity: string, data: RecordData): Promise<RecordItem> {
    const { raw, call } = useApi()
    return call(raw.POST('/api/v1/records/{entity}', { params: { path: { entity } }, body: { data } }))
  },
  /** A partial update of the fields in `data`, made on the version the user read. */
  update(entity: string, id: string, version: number, data: RecordData): Promise<RecordItem> {
    const { raw, call } = useApi()
    return call(
      raw.PATCH('/api/v1/records/{entity}/{id}', {
        params: { path: { entity, id }, header: { 'If-Match': etag(version) } },
        body: { data },
      }),
    )
  },
  async remove(entity: string, id: string, version: number): Promise<void> {
    const { raw, send } = useApi()
    await send(
      raw.DELETE('/api/v1/records/{entity}/{id}', {
        params: { path: { entity, id }, header: { 'If-Match': etag(version) } },
      }),
    )
  },
  restore(entity: string, id: string): Promise<RecordItem> {
    const { raw, call } = useApi()
    return call(raw.POST('/api/v1/records/{entity}/{id}/restore', { params: { path: { entity, id } } }))
  },
  /** The file and the name the server gives it. */
  async exportFile(
    entity: string,
    format: ExportFormat,
    options: { filter?: FilterExpr | null; sort?: string; columns?: readonly string[] } = {},
  ): Promise<{ blob: Blob; filename: string }> {
    const { raw, send } = useApi()
    const response = await send(
      raw.GET('/api/v1/records/{entity}/export', {
        params: {
          path: { entity },
          query: {
            format,
            filter: options.filter ? JSON.stringify(options.filter) : undefined,
            sort: options.sort || undefined,
            columns: commaList(options.columns),
          },
        },
        parseAs: 'stream',
      }),
    )
    const disposition = response.headers.get('Content-Disposition') ?? ''
    const named = /filename="([^"]+)"/.exec(disposition)
    return { blob: await response.blob(), filename: named?.[1] ?? `${entity}.${format}` }
  },
}

export const usersApi = {
  list(page = 1, perPage = 1000) {
    const { raw, call } = useApi()
    return call(raw.GET('/api/v1/users', { params: { query: { page, per_page: perPage } } }))
  },
}

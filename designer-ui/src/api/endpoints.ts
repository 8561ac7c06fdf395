// Typed calls of the API, grouped by area. Pages and stores call these, never `fetch`.
import { useApi } from '.'
import type {
  ApiToken,
  CreatedApiToken,
  EntityDefinition,
  FilterExpr,
  ImportPreview,
  ImportReport,
  ListView,
  NewUser,
  RecordChange,
  RecordData,
  RecordItem,
  RecordPage,
  Role,
  RoleBody,
  User,
  UserUpdate,
  View360,
} from './types'

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

export interface ImportRequest {
  /** Check every row and write nothing. */
  dryRun: boolean
  /** All rows or none (the server's default); false writes the good rows and skips the bad. */
  atomic: boolean
  /** Column header → field name, `''` to ignore the column; null for the server's own match. */
  mapping?: Record<string, string> | null
}

const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'

/** The body's media type by the file's name: Windows calls a CSV `application/vnd.ms-excel`. */
export function importMediaType(fileName: string): 'text/csv' | typeof XLSX_TYPE {
  return /\.xlsx$/i.test(fileName) ? XLSX_TYPE : 'text/csv'
}

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

export const recordViewsApi = {
  /** The record, the records referencing it (newest 20 per group) and their changes. */
  view360(entity: string, id: string): Promise<View360> {
    const { raw, call } = useApi()
    return call(raw.GET('/api/v1/records/{entity}/{id}/view360', { params: { path: { entity, id } } }))
  },
  /** Every version of the record, oldest first. */
  async history(entity: string, id: string): Promise<RecordChange[]> {
    const { raw, call } = useApi()
    const page = await call(raw.GET('/api/v1/records/{entity}/{id}/history', { params: { path: { entity, id } } }))
    return page.items
  },
}

export const importApi = {
  /** The file's header, the field proposed for each column, and its first rows; checks nothing. */
  preview(entity: string, file: File): Promise<ImportPreview> {
    const { raw, call } = useApi()
    return call(
      raw.POST('/api/v1/records/{entity}/import-preview', {
        params: { path: { entity } },
        body: file,
        bodySerializer: (body) => body,
        headers: { 'Content-Type': importMediaType(file.name) },
      }),
    )
  },
  /** Sends the file as it is (CSV or XLSX) and answers the server's report. */
  run(entity: string, file: File, request: ImportRequest): Promise<ImportReport> {
    const { raw, call } = useApi()
    return call(
      raw.POST('/api/v1/records/{entity}/import', {
        params: {
          path: { entity },
          query: {
            dry_run: request.dryRun ? 'true' : 'false',
            atomic: request.atomic ? 'true' : 'false',
            mapping: request.mapping ? JSON.stringify(request.mapping) : undefined,
          },
        },
        body: file,
        bodySerializer: (body) => body,
        headers: { 'Content-Type': importMediaType(file.name) },
      }),
    )
  },
}

export const listViewsApi = {
  async list(entity: string): Promise<ListView[]> {
    const { raw, call } = useApi()
    return (await call(raw.GET('/api/v1/list-views', { params: { query: { entity } } }))).items
  },
  create(entity: string, name: string, state: Record<string, unknown>): Promise<ListView> {
    const { raw, call } = useApi()
    return call(raw.POST('/api/v1/list-views', { body: { entity, name, state } }))
  },
  update(id: string, name: string, state: Record<string, unknown>): Promise<ListView> {
    const { raw, call } = useApi()
    return call(raw.PUT('/api/v1/list-views/{id}', { params: { path: { id } }, body: { name, state } }))
  },
  async remove(id: string): Promise<void> {
    const { raw, send } = useApi()
    await send(raw.DELETE('/api/v1/list-views/{id}', { params: { path: { id } } }))
  },
}

export const usersApi = {
  list(page = 1, perPage = 1000) {
    const { raw, call } = useApi()
    return call(raw.GET('/api/v1/users', { params: { query: { page, per_page: perPage } } }))
  },
  /** Every user, page after page (the API has no search: hospitals have hundreds, not millions). */
  async listAll(): Promise<User[]> {
    const users: User[] = []
    for (let page = 1; ; page++) {
      const answer = await usersApi.list(page, 1000)
      users.push(...answer.items)
      const total = answer.total ?? answer.total_estimate ?? 0
      if (answer.items.length < answer.per_page || users.length >= total) return users
    }
  },
  get(id: string): Promise<User> {
    const { raw, call } = useApi()
    return call(raw.GET('/api/v1/users/{id}', { params: { path: { id } } }))
  },
  create(user: NewUser): Promise<User> {
    const { raw, call } = useApi()
    return call(raw.POST('/api/v1/users', { body: user }))
  },
  /** Changes the parts in `update`; its `version` (the one the user read) is the precondition. */
  update(id: string, update: UserUpdate & { version: number }): Promise<User> {
    const { raw, call } = useApi()
    return call(raw.PATCH('/api/v1/users/{id}', { params: { path: { id } }, body: update }))
  },
  async remove(id: string, version: number): Promise<void> {
    const { raw, send } = useApi()
    await send(raw.DELETE('/api/v1/users/{id}', { params: { path: { id } }, headers: { 'If-Match': etag(version) } }))
  },
}

export const rolesApi = {
  async list(): Promise<Role[]> {
    const { raw, call } = useApi()
    return (await call(raw.GET('/api/v1/roles'))).items
  },
  get(name: string): Promise<Role> {
    const { raw, call } = useApi()
    return call(raw.GET('/api/v1/roles/{name}', { params: { path: { name } } }))
  },
  create(role: RoleBody): Promise<Role> {
    const { raw, call } = useApi()
    return call(raw.POST('/api/v1/roles', { body: role }))
  },
  /** Replaces the role; the body's `version` (the one the user read) is the precondition. */
  replace(role: RoleBody & { version: number }): Promise<Role> {
    const { raw, call } = useApi()
    return call(raw.PUT('/api/v1/roles/{name}', { params: { path: { name: role.name } }, body: role }))
  },
  async remove(name: string, version: number): Promise<void> {
    const { raw, send } = useApi()
    await send(raw.DELETE('/api/v1/roles/{name}', { params: { path: { name } }, headers: { 'If-Match': etag(version) } }))
  },
}

/** The caller's own API tokens: the API lists no one else's. */
export const tokensApi = {
  async list(): Promise<ApiToken[]> {
    const { raw, call } = useApi()
    return (await call(raw.GET('/api/v1/tokens'))).items
  },
  /** The new token with its value, which the server shows this once. */
  create(name: string, expiresAt: string | null): Promise<CreatedApiToken> {
    const { raw, call } = useApi()
    return call(raw.POST('/api/v1/tokens', { body: { name, expires_at: expiresAt } }))
  },
  async revoke(id: string): Promise<void> {
    const { raw, send } = useApi()
    await send(raw.DELETE('/api/v1/tokens/{id}', { params: { path: { id } } }))
  },
}

// Typed calls of the API, grouped by area. Pages and stores call these, never `fetch`.
import { useApi } from '.'
import type {
  ApiToken,
  CreatedApiToken,
  FilterExpr,
  NewUser,
  RecordData,
  RecordItem,
  RecordPage,
  Role,
  RoleBody,
  User,
  UserUpdate,
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

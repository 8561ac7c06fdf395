import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createApi, installApi, type ApiHooks } from '.'
import { recordsApi, sessionApi } from './endpoints'
import { ApiError } from './errors'

/** A fake server: answers each request with the next response and keeps the requests. */
function fakeServer(...answers: Array<() => Response>) {
  const requests: Request[] = []
  const fetch = vi.fn(async (request: Request) => {
    requests.push(request.clone())
    const next = answers.shift()
    if (!next) throw new Error('no answer left')
    return next()
  })
  return { fetch, requests }
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => () =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })

function hooks(overrides: Partial<ApiHooks> = {}): ApiHooks & { expired: number } {
  const h = {
    expired: 0,
    csrfToken: () => 'token-123',
    language: () => 'zh-CN',
    onUnauthenticated: () => {
      h.expired++
    },
    ...overrides,
  }
  return h
}

const record = { id: '0190c7d2-0000-7000-8000-000000000001', entity: 'patient', version: 2, data: { name: '张三' }, created_at: '2026-12-01T00:00:00.000000Z', created_by: 'u', updated_at: '2026-12-01T00:00:00.000000Z', updated_by: 'u' }

describe('the API client', () => {
  let h: ReturnType<typeof hooks>
  beforeEach(() => {
    h = hooks()
  })

  it('sends the CSRF token on writes and the language on every request', async () => {
    const server = fakeServer(json(200, { items: [], page: 1, per_page: 50, total: 0 }), json(201, record))
    installApi(createApi(h, { baseUrl: 'http://kd.test', fetch: server.fetch }))
    await recordsApi.list('patient')
    await recordsApi.create('patient', { name: '张三' })
    const [read, write] = server.requests
    expect(read!.method).toBe('GET')
    expect(read!.headers.get('X-CSRF-Token')).toBeNull()
    expect(read!.headers.get('Accept-Language')).toBe('zh-CN')
    expect(write!.method).toBe('POST')
    expect(write!.headers.get('X-CSRF-Token')).toBe('token-123')
    expect(await write!.json()).toEqual({ data: { name: '张三' } })
  })

  it('puts the version in If-Match and the filter as JSON in the query', async () => {
    const server = fakeServer(json(200, record), json(200, { items: [], page: 2, per_page: 20 }))
    installApi(createApi(h, { baseUrl: 'http://kd.test', fetch: server.fetch }))
    await recordsApi.update('patient', record.id, 2, { name: '李四' })
    await recordsApi.list('patient', { page: 2, perPage: 20, sort: '-name', q: ' zs ', filter: { field: 'tier', op: 'eq', value: 'VIP' }, deleted: true })
    expect(server.requests[0]!.headers.get('If-Match')).toBe('"2"')
    expect(server.requests[0]!.headers.get('X-CSRF-Token')).toBe('token-123')
    const url = new URL(server.requests[1]!.url)
    expect(url.pathname).toBe('/api/v1/records/patient')
    expect(Object.fromEntries(url.searchParams)).toEqual({
      page: '2',
      per_page: '20',
      sort: '-name',
      q: 'zs',
      filter: '{"field":"tier","op":"eq","value":"VIP"}',
      deleted: 'true',
    })
  })

  it('turns the error format into a typed error with per-field details', async () => {
    const body = {
      error: {
        code: 'validation_failed',
        message: '记录数据有误',
        details: [
          { field: 'id_number', code: 'id_card_format', message: '身份证号 应为 18 位身份证号' },
          { field: 'id_number', code: 'id_card_checksum', message: 'second' },
          { field: 'phone', code: 'phone_format', message: '手机号 不是有效的手机或固定电话号码' },
        ],
      },
    }
    installApi(createApi(h, { baseUrl: 'http://kd.test', fetch: fakeServer(json(422, body)).fetch }))
    const error = await recordsApi.create('patient', {}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ApiError)
    const e = error as ApiError
    expect(e.status).toBe(422)
    expect(e.code).toBe('validation_failed')
    expect(e.message).toBe('记录数据有误')
    expect(e.hasFieldErrors).toBe(true)
    expect(e.fieldErrors()).toEqual({ id_number: '身份证号 应为 18 位身份证号', phone: '手机号 不是有效的手机或固定电话号码' })
  })

  it('tells the session once a request answers 401, but not a failed log-in', async () => {
    const unauthenticated = json(401, { error: { code: 'unauthenticated', message: '请先登录', details: [] } })
    installApi(createApi(h, { baseUrl: 'http://kd.test', fetch: fakeServer(unauthenticated, unauthenticated).fetch }))
    await expect(recordsApi.list('patient')).rejects.toMatchObject({ status: 401, code: 'unauthenticated' })
    expect(h.expired).toBe(1)
    await expect(sessionApi.login('admin', 'wrong')).rejects.toMatchObject({ status: 401 })
    expect(h.expired).toBe(1)
  })

  it('reports an unreachable server and an answer outside the error format', async () => {
    const down = vi.fn(async () => {
      throw new TypeError('Failed to fetch')
    })
    installApi(createApi(h, { baseUrl: 'http://kd.test', fetch: down }))
    await expect(recordsApi.list('patient')).rejects.toMatchObject({ status: 0, code: 'network_error' })
    const html = () => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway', headers: { 'content-type': 'text/html' } })
    installApi(createApi(h, { baseUrl: 'http://kd.test', fetch: fakeServer(html).fetch }))
    await expect(recordsApi.list('patient')).rejects.toMatchObject({ status: 502, code: 'unexpected_response' })
  })

  it('downloads an export with the name the server gives it', async () => {
    const file = () =>
      new Response('name\n张三\n', { status: 200, headers: { 'content-type': 'text/csv', 'content-disposition': 'attachment; filename="patient.csv"' } })
    const server = fakeServer(file)
    installApi(createApi(h, { baseUrl: 'http://kd.test', fetch: server.fetch }))
    const { blob, filename } = await recordsApi.exportFile('patient', 'csv', { columns: ['name', 'phone'], sort: 'name' })
    expect(filename).toBe('patient.csv')
    expect(await blob.text()).toBe('name\n张三\n')
    const url = new URL(server.requests[0]!.url)
    expect(url.searchParams.get('columns')).toBe('name,phone')
    expect(url.searchParams.get('format')).toBe('csv')
  })
})

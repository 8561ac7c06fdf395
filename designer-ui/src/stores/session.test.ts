import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { createApi, installApi } from '@/api'
import { admin, fakeServer, json, nurse } from '@/test/fixtures'
import { useEntitiesStore } from './entities'
import { useSessionStore } from './session'

function install(handlers: Parameters<typeof fakeServer>[0]) {
  const server = fakeServer(handlers)
  const session = useSessionStore()
  installApi(
    createApi(
      { csrfToken: () => session.csrfToken, language: () => 'zh-CN', onUnauthenticated: () => session.expire() },
      { baseUrl: 'http://kd.test', fetch: server.fetch },
    ),
  )
  return { server, session }
}

describe('the session store', () => {
  beforeEach(() => setActivePinia(createPinia()))

  it('signs in, keeps the CSRF token for writes, and signs out', async () => {
    const { server, session } = install({
      'POST /api/v1/auth/login': () => json(200, nurse),
      'POST /api/v1/auth/logout': () => new Response(null, { status: 204 }),
    })
    expect(session.status).toBe('unknown')
    await session.login('nurse_li', 'secret-1')
    expect(session.status).toBe('signed_in')
    expect(session.csrfToken).toBe('nurse-csrf')
    expect(session.displayName).toBe('李护士')
    expect(session.roles).toEqual(['nurse'])
    expect(session.can('patient', 'update')).toBe(true)
    expect(session.can('patient', 'delete')).toBe(false)
    await session.logout()
    expect(server.calls[1]!.headers.get('X-CSRF-Token')).toBe('nurse-csrf')
    expect(session.status).toBe('anonymous')
    expect(session.csrfToken).toBeNull()
  })

  it('finds out after a reload whether the browser is signed in', async () => {
    const signedIn = install({ 'GET /api/v1/me': () => json(200, admin) })
    await signedIn.session.load()
    expect(signedIn.session.status).toBe('signed_in')
    expect(signedIn.session.isAdmin).toBe(true)
    expect(signedIn.session.hasRight('users')).toBe(true)

    setActivePinia(createPinia())
    const anonymous = install({ 'GET /api/v1/me': () => json(401, { error: { code: 'unauthenticated', message: '请先登录', details: [] } }) })
    await anonymous.session.load()
    expect(anonymous.session.status).toBe('anonymous')
    expect(anonymous.session.expired).toBe(false)
  })

  it('marks the session expired when a request answers 401', async () => {
    const { session } = install({
      'POST /api/v1/auth/login': () => json(200, nurse),
      'GET /api/v1/entities': () => json(401, { error: { code: 'unauthenticated', message: '请先登录', details: [] } }),
    })
    await session.login('nurse_li', 'secret-1')
    await expect(useEntitiesStore().load()).rejects.toMatchObject({ status: 401 })
    expect(session.status).toBe('anonymous')
    expect(session.expired).toBe(true)
    expect(session.me).toBeNull()
  })

  it('keeps a failed log-in from looking like an expired session', async () => {
    const { session } = install({
      'POST /api/v1/auth/login': () => json(401, { error: { code: 'unauthenticated', message: '用户名或密码错误', details: [] } }),
    })
    await expect(session.login('nurse_li', 'wrong')).rejects.toMatchObject({ status: 401 })
    expect(session.expired).toBe(false)
  })
})

describe('the entity definitions store', () => {
  beforeEach(() => setActivePinia(createPinia()))

  it('loads once, lists what the user may read, and reloads on demand', async () => {
    const visit = { name: 'visit', version: 1, fields: [{ name: 'at', type: 'date' as const }] }
    const patientInfo = { name: 'patient', version: 1, fields: [{ name: 'name', type: 'text' as const }] }
    const { server, session } = install({
      'POST /api/v1/auth/login': () => json(200, nurse),
      'GET /api/v1/entities': () => json(200, { items: [patientInfo, visit], page: 1, per_page: 2, total: 2 }),
    })
    await session.login('nurse_li', 'secret-1')
    const entities = useEntitiesStore()
    await Promise.all([entities.load(), entities.load()])
    await entities.load()
    expect(server.calls.filter((c) => c.path === '/api/v1/entities')).toHaveLength(1)
    expect(entities.readable.map((e) => e.name)).toEqual(['patient'])
    expect(entities.byName('visit')?.version).toBe(1)
    await entities.load(true)
    expect(server.calls.filter((c) => c.path === '/api/v1/entities')).toHaveLength(2)
  })
})

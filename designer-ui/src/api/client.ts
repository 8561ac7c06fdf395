// The one HTTP client of the app: typed from the OpenAPI document, with the session's CSRF token
// on every write, the chosen language on every request, and every error answer turned into an
// `ApiError`. A 401 anywhere but at log-in tells the app the session is over.
import createClient, { type Middleware } from 'openapi-fetch'
import { ApiError, apiErrorFrom } from './errors'
import type { paths } from './schema'

export interface ApiHooks {
  /** The CSRF token of the signed-in session (from log-in or `GET /api/v1/me`). */
  csrfToken(): string | null
  /** The `Accept-Language` to send: `zh-CN` or `en`. */
  language(): string
  /** Called once per 401 answer outside log-in: the session expired or was revoked. */
  onUnauthenticated(): void
}

export interface ApiOptions {
  baseUrl?: string
  fetch?: (request: Request) => Promise<Response>
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
const LOGIN_PATH = '/api/v1/auth/login'

type Answer = { data?: unknown; error?: unknown; response: Response }

export function createApi(hooks: ApiHooks, options: ApiOptions = {}) {
  const raw = createClient<paths>({
    baseUrl: options.baseUrl ?? '',
    ...(options.fetch ? { fetch: options.fetch } : {}),
    credentials: 'same-origin',
  })

  const session: Middleware = {
    onRequest({ request }) {
      request.headers.set('Accept-Language', hooks.language())
      if (!SAFE_METHODS.has(request.method.toUpperCase())) {
        const token = hooks.csrfToken()
        if (token) request.headers.set('X-CSRF-Token', token)
      }
      return request
    },
    onResponse({ request, response }) {
      if (response.status === 401 && !new URL(request.url).pathname.endsWith(LOGIN_PATH)) {
        hooks.onUnauthenticated()
      }
      return undefined
    },
  }
  raw.use(session)

  async function settle<A extends Answer>(pending: Promise<A>): Promise<A> {
    let answer: A
    try {
      answer = await pending
    } catch (e) {
      throw new ApiError(0, 'network_error', e instanceof Error ? e.message : String(e))
    }
    if (answer.response.ok) return answer
    throw apiErrorFrom(answer.response.status, answer.error, answer.response.statusText)
  }

  /** The body of a successful answer; an `ApiError` otherwise. */
  async function call<A extends Answer>(pending: Promise<A>): Promise<NonNullable<A['data']>> {
    const answer = await settle(pending)
    return answer.data as NonNullable<A['data']>
  }

  /** A successful answer whose body does not matter (204s); an `ApiError` otherwise. */
  async function send(pending: Promise<Answer>): Promise<Response> {
    return (await settle(pending)).response
  }

  return { raw, call, send }
}

export type Api = ReturnType<typeof createApi>

// Where the app's one client lives. `main.ts` installs it with hooks into the stores; tests
// install one over a fake `fetch`.
import type { Api } from './client'

let current: Api | null = null

export function installApi(api: Api): void {
  current = api
}

export function useApi(): Api {
  if (!current) throw new Error('the API client is not installed (installApi in main.ts)')
  return current
}

export { createApi } from './client'
export type { Api, ApiHooks } from './client'
export { ApiError, isApiError } from './errors'

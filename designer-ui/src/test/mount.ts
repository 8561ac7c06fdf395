// Mounts a page or component the way the app runs it: pinia with a signed-in user and the
// entity definitions, i18n in Chinese, a router in memory, and the API client over a fake server.
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { vi } from 'vitest'
import { defineComponent, h } from 'vue'
import { createMemoryHistory, createRouter, RouterView } from 'vue-router'
import { createApi, installApi } from '@/api'
import type { EntityInfo, Me } from '@/api/types'
import { i18n } from '@/i18n'
import { buildRoutes } from '@/router'
import { useEntitiesStore } from '@/stores/entities'
import { usePreferencesStore } from '@/stores/preferences'
import { useSessionStore } from '@/stores/session'
import { fakeServer } from './fixtures'

export interface MountOptions {
  me: Me
  entities: EntityInfo[]
  handlers?: Parameters<typeof fakeServer>[0]
  route: string
}

const mounted: VueWrapper[] = []

/**
 * Unmounts every page `mountSignedIn` mounted: a page left alive keeps its timers (the form
 * designer's live check) and would call the next test's fake server.
 */
export function unmountAll(): void {
  for (const wrapper of mounted.splice(0)) wrapper.unmount()
}

/** The app's routes at `options.route`, inside the signed-in shell, as a user sees them. */
export async function mountSignedIn(options: MountOptions) {
  const pinia = createPinia()
  setActivePinia(pinia)
  usePreferencesStore().setLanguage('zh-CN')
  const session = useSessionStore()
  session.me = options.me
  session.csrfToken = options.me.csrf_token ?? null
  session.status = 'signed_in'
  const entities = useEntitiesStore()
  entities.items = options.entities
  entities.loaded = true
  const server = fakeServer(options.handlers ?? {})
  installApi(
    createApi(
      { csrfToken: () => session.csrfToken, language: () => 'zh-CN', onUnauthenticated: () => session.expire() },
      { baseUrl: 'http://kd.test', fetch: server.fetch },
    ),
  )
  const router = createRouter({ history: createMemoryHistory(), routes: buildRoutes() })
  await router.push(options.route)
  await router.isReady()
  const App = defineComponent({ render: () => h(RouterView) })
  const wrapper = mount(App, { global: { plugins: [pinia, i18n, router] }, attachTo: document.body })
  mounted.push(wrapper)
  await settle()
  return { wrapper, server, router, session }
}

/** Waits until `check` passes (Element Plus shows some things a few ticks late). */
export function eventually(check: () => void): Promise<void> {
  return vi.waitFor(check, { timeout: 5000, interval: 20 })
}

/** Lets Vue, Element Plus and the fake server settle. */
export async function settle(): Promise<void> {
  await flushPromises()
  await new Promise((r) => setTimeout(r, 0))
  await flushPromises()
}

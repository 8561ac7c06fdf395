// Routes: the log-in page, then every area's pages inside the signed-in shell. A page that needs
// a session sends an anonymous visitor to log in, and back to where they were afterwards.
import { createRouter, createWebHistory, type RouteLocationNormalized, type Router } from 'vue-router'
import { areas } from '@/areas'
import { useSessionStore } from '@/stores/session'

declare module 'vue-router' {
  interface RouteMeta {
    /** Open without a session (the log-in page). */
    public?: boolean
    /** The message key of the page title when the page does not set one itself. */
    titleKey?: string
    /** The top-bar entry the page belongs to (its `NavItem.key`), when the route does not say. */
    navKey?: string
  }
}

export function buildRoutes() {
  return [
    {
      path: '/login',
      name: 'login',
      component: () => import('@/areas/auth/LoginPage.vue'),
      meta: { public: true, titleKey: 'auth.title' },
    },
    {
      path: '/',
      component: () => import('@/shell/AppShell.vue'),
      children: areas.flatMap((a) => a.routes),
    },
    {
      path: '/:pathMatch(.*)*',
      name: 'not-found',
      component: () => import('@/shell/NotFoundPage.vue'),
      meta: { titleKey: 'errors.notFoundTitle' },
    },
  ]
}

/** Where to go after log-in: the page the user was sent away from, if it is one of ours. */
export function redirectTarget(route: RouteLocationNormalized): string {
  const target = route.query.redirect
  return typeof target === 'string' && target.startsWith('/') && !target.startsWith('//') ? target : '/'
}

export function installGuards(router: Router): void {
  router.beforeEach(async (to) => {
    const session = useSessionStore()
    if (session.status === 'unknown') {
      try {
        await session.load()
      } catch {
        // The server is unreachable: the log-in page says so when the user tries.
      }
    }
    if (to.meta.public) {
      if (to.name === 'login' && session.status === 'signed_in') return redirectTarget(to)
      return true
    }
    if (session.status !== 'signed_in') {
      return { name: 'login', query: to.fullPath === '/' ? {} : { redirect: to.fullPath } }
    }
    return true
  })
}

export function createAppRouter(): Router {
  const router = createRouter({ history: createWebHistory(), routes: buildRoutes() })
  installGuards(router)
  return router
}

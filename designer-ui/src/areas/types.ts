// An area of the app (records, and later the designers and administration) brings its routes
// and its entries in the top bar. Add an area in `areas/index.ts`; nothing else changes.
import type { RouteLocationRaw, RouteRecordRaw } from 'vue-router'
import type { useEntitiesStore } from '@/stores/entities'
import type { useSessionStore } from '@/stores/session'
import type { Language } from '@/i18n'

/**
 * The top bar's menus, in order (UI.md): 工作台 · 数据 · 设计 · 管理; `account` entries (the
 * user's own things, such as their API tokens) go in the user menu at the right.
 */
export type NavSection = 'workbench' | 'data' | 'design' | 'admin' | 'account'

export interface NavItem {
  section: NavSection
  /** Unique within the top bar; also the menu item's index. */
  key: string
  label: string
  to: RouteLocationRaw
}

export interface NavContext {
  session: ReturnType<typeof useSessionStore>
  entities: ReturnType<typeof useEntitiesStore>
  language: Language
  t: (key: string, params?: Record<string, unknown>) => string
}

export interface AppArea {
  name: string
  /** Child routes of the signed-in shell. Load pages lazily: `component: () => import(…)`. */
  routes: RouteRecordRaw[]
  /**
   * The area's entries in the top bar for this user. Return only pages that exist and that the
   * user may open (设计 needs `design` on an entity, 管理 a system right).
   */
  nav?: (ctx: NavContext) => NavItem[]
}

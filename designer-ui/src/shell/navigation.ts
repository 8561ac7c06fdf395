// The top bar's menus from every area's entries: a section with one entry is a link, one with
// several a drop-down, one with none is not shown. `account` entries go in the user menu.
import { areas } from '@/areas'
import type { NavContext, NavItem, NavSection } from '@/areas/types'

export interface NavMenu {
  section: NavSection
  items: NavItem[]
}

const ORDER: readonly NavSection[] = ['workbench', 'data', 'design', 'admin']

export function buildNavigation(ctx: NavContext): NavMenu[] {
  const items = areas.flatMap((a) => a.nav?.(ctx) ?? [])
  return ORDER.map((section) => ({ section, items: items.filter((i) => i.section === section) })).filter(
    (m) => m.items.length > 0,
  )
}

/** The user menu's own entries (before the languages and log-out). */
export function buildAccountMenu(ctx: NavContext): NavItem[] {
  return areas.flatMap((a) => a.nav?.(ctx) ?? []).filter((i) => i.section === 'account')
}

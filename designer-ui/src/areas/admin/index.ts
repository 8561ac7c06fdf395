// 管理: users and roles for holders of the matching system right, and everyone's own API tokens
// in the user menu (the API lists only the caller's tokens).
import { useSessionStore } from '@/stores/session'
import type { AppArea, NavItem } from '../types'

export const adminArea: AppArea = {
  name: 'admin',
  routes: [
    {
      // 管理 itself: the first of its pages the user may open (each page says so when none).
      path: 'admin',
      name: 'admin',
      redirect: () => ({ name: useSessionStore().hasRight('users') || !useSessionStore().hasRight('roles') ? 'admin-users' : 'admin-roles' }),
    },
    {
      path: 'admin/users',
      name: 'admin-users',
      component: () => import('./users/UsersPage.vue'),
      meta: { navKey: 'admin:users' },
    },
    {
      path: 'admin/roles',
      name: 'admin-roles',
      component: () => import('./roles/RolesPage.vue'),
      meta: { navKey: 'admin:roles' },
    },
    {
      path: 'admin/roles/new',
      name: 'admin-role-new',
      component: () => import('./roles/RoleEditPage.vue'),
      props: { name: null },
      meta: { navKey: 'admin:roles' },
    },
    {
      path: 'admin/roles/:name',
      name: 'admin-role-edit',
      component: () => import('./roles/RoleEditPage.vue'),
      props: true,
      meta: { navKey: 'admin:roles' },
    },
    {
      path: 'account/tokens',
      name: 'account-tokens',
      component: () => import('./tokens/TokensPage.vue'),
    },
  ],
  nav: ({ session, t }) => {
    const items: NavItem[] = []
    if (session.hasRight('users')) items.push({ section: 'admin', key: 'admin:users', label: t('admin.users.title'), to: { name: 'admin-users' } })
    if (session.hasRight('roles')) items.push({ section: 'admin', key: 'admin:roles', label: t('admin.roles.title'), to: { name: 'admin-roles' } })
    items.push({ section: 'account', key: 'account:tokens', label: t('admin.tokens.menu'), to: { name: 'account-tokens' } })
    return items
  },
}

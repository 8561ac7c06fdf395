import type { AppArea } from '../types'

export const workbenchArea: AppArea = {
  name: 'workbench',
  routes: [
    {
      path: '',
      name: 'workbench',
      component: () => import('./WorkbenchPage.vue'),
      meta: { titleKey: 'workbench.title' },
    },
  ],
  nav: ({ t }) => [{ section: 'workbench', key: 'workbench', label: t('nav.workbench'), to: { name: 'workbench' } }],
}

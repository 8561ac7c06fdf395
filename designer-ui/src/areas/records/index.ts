import { pickLabel } from '@/i18n'
import type { AppArea } from '../types'

export const recordsArea: AppArea = {
  name: 'records',
  routes: [
    {
      path: 'records/:entity',
      name: 'records-list',
      component: () => import('./RecordListPage.vue'),
      props: true,
    },
    {
      path: 'records/:entity/new',
      name: 'records-new',
      component: () => import('./RecordFormPage.vue'),
      props: (route) => ({ entity: route.params.entity, id: null }),
    },
    {
      path: 'records/:entity/import',
      name: 'records-import',
      component: () => import('./import/RecordImportPage.vue'),
      props: true,
    },
    {
      path: 'records/:entity/:id/360',
      name: 'records-360',
      component: () => import('./view360/RecordView360Page.vue'),
      props: true,
    },
    {
      path: 'records/:entity/:id/print',
      name: 'records-print',
      component: () => import('./print/RecordPrintPage.vue'),
      props: true,
    },
    {
      path: 'records/:entity/:id',
      name: 'records-edit',
      component: () => import('./RecordFormPage.vue'),
      props: true,
    },
  ],
  // One item per entity the user may read.
  nav: ({ entities, language }) =>
    entities.readable.map((e) => ({
      section: 'data' as const,
      key: `records:${e.name}`,
      label: pickLabel(e.label, language, e.name),
      to: { name: 'records-list', params: { entity: e.name } },
    })),
}

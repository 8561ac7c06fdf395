import type { AppArea } from '../types'

export const designerArea: AppArea = {
  name: 'designer',
  routes: [
    {
      path: 'design/forms',
      name: 'designer-forms',
      component: () => import('./FormListPage.vue'),
      meta: { titleKey: 'designer.list.title', navKey: 'design:forms' },
    },
    {
      // Two segments, so a new form never collides with an entity called `new`.
      path: 'design/forms/new/:entity',
      name: 'designer-new',
      component: () => import('./FormDesignerPage.vue'),
      props: (route) => ({ entity: route.params.entity, isNew: true }),
      meta: { navKey: 'design:forms' },
    },
    {
      path: 'design/forms/:entity',
      name: 'designer-form',
      component: () => import('./FormDesignerPage.vue'),
      props: (route) => ({ entity: route.params.entity, isNew: false }),
      meta: { navKey: 'design:forms' },
    },
  ],
  // 设计 → 表单 for whoever may design some entity or create one.
  nav: ({ session, entities, t }) =>
    session.hasRight('new_entity') || entities.items.some((e) => session.can(e.name, 'design'))
      ? [{ section: 'design', key: 'design:forms', label: t('designer.nav.forms'), to: { name: 'designer-forms' } }]
      : [],
}

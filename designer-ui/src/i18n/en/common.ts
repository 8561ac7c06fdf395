import type zh from '../zh-CN/common'

export default {
  app: { name: 'Kangdao' },
  common: {
    new: 'New',
    save: 'Save',
    cancel: 'Cancel',
    delete: 'Delete',
    undo: 'Undo',
    retry: 'Retry',
    yes: 'Yes',
    no: 'No',
  },
  nav: {
    main: 'Main menu',
    workbench: 'Workbench',
    data: 'Data',
    design: 'Design',
    admin: 'Admin',
  },
  languages: {
    'zh-CN': '简体中文',
    en: 'English',
  },
  errors: {
    network: 'Cannot reach the server; check the network and try again',
    unexpected: 'The server gave an answer the app does not understand ({status})',
    internal: 'The server had an internal error; try again later, and tell IT if it keeps happening',
    unknown: 'Something unexpected went wrong; reload the page and try again',
    loadFailed: 'Could not load',
    notFoundTitle: 'Page not found',
    notFoundText: 'This address does not exist, or has moved.',
    backHome: 'Back to the workbench',
  },
} satisfies typeof zh

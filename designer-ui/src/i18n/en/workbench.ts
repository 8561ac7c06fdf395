import type zh from '../zh-CN/workbench'

export default {
  title: 'Workbench',
  greeting: 'Hello, {name}. Choose the data to work on:',
  nothingToRead: 'There is no data you may see yet. Ask an administrator to give you a role.',
  fieldCount: '{n} fields',
  openList: 'Open list',
} satisfies typeof zh

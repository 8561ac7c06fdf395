import type zh from '../zh-CN/shell'

export default {
  administrator: 'Administrator',
  signedInAs: 'Signed in as {name}',
  language: 'Language',
  logout: 'Log out',
} satisfies typeof zh

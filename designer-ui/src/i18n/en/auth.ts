import type zh from '../zh-CN/auth'

export default {
  title: 'Log in',
  subtitle: 'Hospital patient-relationship platform',
  username: 'Username',
  password: 'Password',
  submit: 'Log in',
  usernameRequired: 'Enter your username',
  passwordRequired: 'Enter your password',
  wrongCredentials: 'Wrong username or password',
  sessionExpired: 'Your session has expired. Log in again to go back to where you were.',
} satisfies typeof zh

export default {
  title: '登录',
  subtitle: '医院客户关系管理平台',
  username: '用户名',
  password: '密码',
  submit: '登录',
  usernameRequired: '请输入用户名',
  passwordRequired: '请输入密码',
  wrongCredentials: '用户名或密码不正确',
  sessionExpired: '登录已过期，请重新登录；登录后将回到刚才的页面。',
}

export default {
  administrator: '系统管理员',
  signedInAs: '当前用户：{name}',
  language: '语言',
  logout: '退出登录',
}

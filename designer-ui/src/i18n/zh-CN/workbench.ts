export default {
  title: '工作台',
  greeting: '{name}，您好。选择要处理的数据：',
  nothingToRead: '您还没有可以查看的数据。请联系管理员为您分配角色。',
  fieldCount: '{n} 个字段',
  openList: '打开列表',
}

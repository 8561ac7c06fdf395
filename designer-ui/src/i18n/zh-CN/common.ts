// Words every area uses.
export default {
  app: { name: '康道' },
  common: {
    new: '新建',
    save: '保存',
    cancel: '取消',
    delete: '删除',
    undo: '撤销',
    retry: '重试',
    yes: '是',
    no: '否',
  },
  nav: {
    main: '主菜单',
    workbench: '工作台',
    data: '数据',
    design: '设计',
    admin: '管理',
  },
  languages: {
    'zh-CN': '简体中文',
    en: 'English',
  },
  errors: {
    network: '无法连接服务器，请检查网络后重试',
    unexpected: '服务器返回了无法识别的应答（{status}）',
    internal: '服务器内部错误，请稍后重试；如持续出现请联系信息科',
    unknown: '发生了意外错误，请刷新页面后重试',
    loadFailed: '加载失败',
    notFoundTitle: '页面不存在',
    notFoundText: '您访问的地址不存在，或已被移动。',
    backHome: '返回工作台',
  },
}

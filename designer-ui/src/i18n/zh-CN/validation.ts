// The server's wording of the same checks (engine/src/forms/messages.rs), so an error reads the
// same whether the browser or the server found it.
export default {
  required: '{label} 为必填项',
  min_length: '{label} 至少 {detail} 个字符',
  max_length: '{label} 最多 {detail} 个字符',
  pattern: '{label} 格式不正确',
  min: '{label} 不能小于 {detail}',
  max: '{label} 不能大于 {detail}',
  not_integer: '{label} 必须为整数',
  money_precision: '{label} 金额最多保留两位小数',
  id_card_format: '{label} 应为 18 位身份证号',
  id_card_checksum: '{label} 校验位不正确',
  id_card_birth_date: '{label} 中的出生日期无效',
  phone_format: '{label} 不是有效的手机或固定电话号码',
  email_format: '{label} 不是有效的电子邮箱地址',
  date_format: '{label} 应为 YYYY-MM-DD 格式的日期',
  datetime_format: '{label} 应为带时区的 RFC 3339 时间',
  invalid_option: '{label} 的值不是可选项之一',
}

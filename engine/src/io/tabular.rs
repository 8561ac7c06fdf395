//! Tables of text cells, read from and written to CSV and XLSX.
//!
//! Reading turns a file into a header and rows of text cells, each row knowing the line a
//! person would look for in the file; typing the cells is `coerce`'s job. Writing produces files
//! that Excel and WPS open correctly with Chinese text and that keep leading zeros.

use crate::i18n::Lang;
use calamine::{DataRef, Reader, SheetType, Xlsx};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Cursor;

/// The widest table read or written: a form with more columns than this is a mistake, and the
/// bound keeps a hostile file from padding every row to Excel's 16,384 columns.
pub const MAX_COLUMNS: usize = 1024;

/// Excel's own row limit (header included).
const XLSX_MAX_ROWS: usize = 1_048_576;

/// The start of a legacy `.xls` (OLE compound file), which we do not read.
const OLE_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// The two file formats of import and export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TabularFormat {
    Csv,
    Xlsx,
}

impl TabularFormat {
    /// XLSX when the bytes start like a zip archive, CSV otherwise.
    pub fn detect(bytes: &[u8]) -> TabularFormat {
        if bytes.starts_with(b"PK\x03\x04") {
            TabularFormat::Xlsx
        } else {
            TabularFormat::Csv
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            TabularFormat::Csv => "text/csv; charset=utf-8",
            TabularFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            TabularFormat::Csv => "csv",
            TabularFormat::Xlsx => "xlsx",
        }
    }
}

/// One data row. `line` is where a person finds it: 1 is the header row, the first data row
/// directly under it is 2. For XLSX it is the spreadsheet row number; for CSV the line of the
/// file on which the record starts (a quoted line break inside an earlier cell counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    pub line: usize,
    /// Exactly as many cells as the header; missing cells are "".
    pub cells: Vec<String>,
}

/// A header of column names (trimmed) and the non-empty rows under it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<TableRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TabularError {
    /// Nothing in the file (no bytes, only a BOM or white space, or a sheet without cells).
    #[error("the file is empty")]
    Empty,
    /// Content, but no row with a non-empty cell to serve as the header.
    #[error("the file has no header row")]
    NoHeader,
    #[error("more than {max} data rows")]
    TooManyRows { max: usize },
    #[error("line {line}: more than {max} columns")]
    TooManyColumns { line: usize, max: usize },
    /// A row with non-empty cells to the right of the last header column.
    #[error("line {line}: {found} cells but the header has {expected}")]
    RowTooLong {
        line: usize,
        found: usize,
        expected: usize,
    },
    #[error("CSV line {line}: {message}")]
    Csv { line: usize, message: String },
    /// Bytes that are neither UTF-8 nor GB18030 (nor the UTF-16 a BOM announces).
    #[error("line {line}: the text is neither UTF-8 nor GB18030")]
    InvalidEncoding { line: usize },
    /// A quoted CSV cell whose closing quote never comes: the rest of the file would be
    /// swallowed into it.
    #[error("line {line}: a quoted cell is never closed")]
    UnclosedQuote { line: usize },
    /// Text right after a quoted cell's closing quote (`"ab"c`).
    #[error("line {line}: text after the closing quote of a cell")]
    TextAfterQuote { line: usize },
    /// Two header columns of the same name.
    #[error("columns {first} and {second} are both named {name:?}")]
    DuplicateColumn {
        line: usize,
        name: String,
        first: usize,
        second: usize,
    },
    #[error("XLSX: {0}")]
    Xlsx(String),
    /// An Excel 97–2003 `.xls` file.
    #[error("legacy .xls files are not supported; save as .xlsx or .csv")]
    LegacyXls,
}

impl TabularError {
    /// A stable code for import reports.
    pub fn code(&self) -> &'static str {
        match self {
            TabularError::Empty => "empty_file",
            TabularError::NoHeader => "no_header",
            TabularError::TooManyRows { .. } => "too_many_rows",
            TabularError::TooManyColumns { .. } => "too_many_columns",
            TabularError::RowTooLong { .. } => "row_too_long",
            TabularError::Csv { .. } => "invalid_csv",
            TabularError::InvalidEncoding { .. } => "invalid_encoding",
            TabularError::UnclosedQuote { .. } | TabularError::TextAfterQuote { .. } => {
                "unbalanced_quote"
            }
            TabularError::DuplicateColumn { .. } => "duplicate_column",
            TabularError::Xlsx(_) => "invalid_xlsx",
            TabularError::LegacyXls => "legacy_xls",
        }
    }

    /// The line the problem is on, where there is one.
    pub fn line(&self) -> Option<usize> {
        match self {
            TabularError::TooManyColumns { line, .. }
            | TabularError::RowTooLong { line, .. }
            | TabularError::Csv { line, .. }
            | TabularError::InvalidEncoding { line }
            | TabularError::UnclosedQuote { line }
            | TabularError::TextAfterQuote { line } => Some(*line),
            TabularError::DuplicateColumn { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// The column the problem is in, where it is one.
    pub fn column(&self) -> Option<&str> {
        match self {
            TabularError::DuplicateColumn { name, .. } => Some(name),
            _ => None,
        }
    }

    /// A message for the person importing the file.
    pub fn message(&self, lang: Lang) -> String {
        match (self, lang) {
            (TabularError::Empty, _) => lang.pick("文件为空", "The file is empty").into(),
            (TabularError::NoHeader, _) => lang
                .pick("文件没有表头行", "The file has no header row")
                .into(),
            (TabularError::TooManyRows { max }, Lang::Zh) => {
                format!("数据行数超过上限 {max} 行，请分批导入")
            }
            (TabularError::TooManyRows { max }, Lang::En) => {
                format!("More than {max} data rows; import the file in parts")
            }
            (TabularError::TooManyColumns { line, max }, Lang::Zh) => {
                format!("第 {line} 行超过 {max} 列")
            }
            (TabularError::TooManyColumns { line, max }, Lang::En) => {
                format!("Line {line} has more than {max} columns")
            }
            (
                TabularError::RowTooLong {
                    line,
                    found,
                    expected,
                },
                Lang::Zh,
            ) => format!("第 {line} 行有 {found} 列，多于表头的 {expected} 列"),
            (
                TabularError::RowTooLong {
                    line,
                    found,
                    expected,
                },
                Lang::En,
            ) => format!("Line {line} has {found} cells but the header has {expected}"),
            (TabularError::Csv { line, message }, Lang::Zh) => {
                format!("CSV 第 {line} 行无法解析：{message}")
            }
            (TabularError::Csv { line, message }, Lang::En) => {
                format!("CSV line {line} cannot be read: {message}")
            }
            (TabularError::InvalidEncoding { line }, Lang::Zh) => format!(
                "第 {line} 行含有无法识别的字符：文件既不是 UTF-8 也不是 GB18030 编码，请另存为 UTF-8 CSV"
            ),
            (TabularError::InvalidEncoding { line }, Lang::En) => format!(
                "Line {line} holds bytes that are neither UTF-8 nor GB18030; save the file as UTF-8 CSV"
            ),
            (TabularError::UnclosedQuote { line }, Lang::Zh) => {
                format!("第 {line} 行的引号没有闭合，其后的内容会被并入同一单元格")
            }
            (TabularError::UnclosedQuote { line }, Lang::En) => format!(
                "Line {line} opens a quoted cell that is never closed; the rest of the file would fall into it"
            ),
            (TabularError::TextAfterQuote { line }, Lang::Zh) => {
                format!("第 {line} 行的引号不成对：闭合引号后还有文字")
            }
            (TabularError::TextAfterQuote { line }, Lang::En) => {
                format!("Line {line} has unbalanced quotes: text follows a closing quote")
            }
            (
                TabularError::DuplicateColumn {
                    name,
                    first,
                    second,
                    ..
                },
                Lang::Zh,
            ) => format!("表头第 {first} 列和第 {second} 列同名：{name}"),
            (
                TabularError::DuplicateColumn {
                    name,
                    first,
                    second,
                    ..
                },
                Lang::En,
            ) => format!("Header columns {first} and {second} are both named {name}"),
            (TabularError::Xlsx(message), Lang::Zh) => format!("无法读取 XLSX 文件：{message}"),
            (TabularError::Xlsx(message), Lang::En) => {
                format!("The XLSX file cannot be read: {message}")
            }
            (TabularError::LegacyXls, _) => lang
                .pick(
                    "不支持旧版 .xls 文件，请另存为 .xlsx 或 .csv 后导入",
                    "Legacy .xls files are not supported; save as .xlsx or .csv and import that",
                )
                .into(),
        }
    }
}

/// Reads a table: the header and at most `max_rows` non-empty data rows.
pub fn read_table(
    bytes: &[u8],
    format: TabularFormat,
    max_rows: usize,
) -> Result<Table, TabularError> {
    if bytes.starts_with(OLE_MAGIC) {
        return Err(TabularError::LegacyXls);
    }
    match format {
        TabularFormat::Csv => read_csv(bytes, max_rows),
        TabularFormat::Xlsx => read_xlsx(bytes, max_rows),
    }
}

/// Whether every cell is empty after trimming.
fn all_blank<'a>(mut cells: impl Iterator<Item = &'a str>) -> bool {
    cells.all(|c| c.trim().is_empty())
}

/// The text of a CSV file: UTF-8 (BOM or not) as is, UTF-16 with a BOM decoded, anything else
/// decoded as GB18030, what Chinese Excel and WPS write by default. Bytes that are none of
/// these are an error naming their line, never replacement characters.
fn csv_text(bytes: &[u8]) -> Result<Cow<'_, str>, TabularError> {
    if let Some((encoding, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        // A UTF-8 BOM followed by broken UTF-8 still means UTF-8: the broken bytes are the error.
        let body = bytes.get(bom_len..).unwrap_or_default();
        return decode_strictly(encoding, body).map(Cow::Owned);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Cow::Borrowed(text)),
        Err(utf8_error) => match decode_strictly(encoding_rs::GB18030, bytes) {
            Ok(text) => Ok(Cow::Owned(text)),
            // Read as far as either encoding goes: the line where the better reading breaks.
            Err(TabularError::InvalidEncoding { line }) => {
                let utf8_text =
                    std::str::from_utf8(&bytes[..utf8_error.valid_up_to()]).unwrap_or_default();
                Err(TabularError::InvalidEncoding {
                    line: line.max(line_count(utf8_text)),
                })
            }
            Err(other) => Err(other),
        },
    }
}

/// `bytes` decoded, or the line of the first malformed byte sequence.
fn decode_strictly(
    encoding: &'static encoding_rs::Encoding,
    bytes: &[u8],
) -> Result<String, TabularError> {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let capacity = decoder
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .unwrap_or(bytes.len().saturating_mul(3));
    let mut text = String::with_capacity(capacity);
    let (result, _read) = decoder.decode_to_string_without_replacement(bytes, &mut text, true);
    match result {
        encoding_rs::DecoderResult::InputEmpty => Ok(text),
        // Decoding stops at the first malformed sequence: the line is the one it is on.
        _ => Err(TabularError::InvalidEncoding {
            line: line_count(&text),
        }),
    }
}

/// The line the end of `text` is on: LF, CRLF and a lone CR each end a line.
fn line_count(text: &str) -> usize {
    let bytes = text.as_bytes();
    1 + bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count()
}

/// Checks the quoting of CSV `text` as RFC 4180 writes it: a cell that starts with a quote
/// ends with one before the next separator or line end (a doubled quote inside it is a quote).
/// The csv reader is lenient and would fold the rest of the file into an unclosed cell, or
/// glue text after a closing quote onto it; both are errors naming the line instead. A quote
/// inside an unquoted cell (`5'11"`) is kept as text.
fn check_quotes(text: &str) -> Result<(), TabularError> {
    let bytes = text.as_bytes();
    let mut line = 1usize;
    let mut at_cell_start = true;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if at_cell_start && b == b'"' {
            let opened_on = line;
            i += 1;
            loop {
                match bytes.get(i) {
                    None => return Err(TabularError::UnclosedQuote { line: opened_on }),
                    Some(b'"') if bytes.get(i + 1) == Some(&b'"') => i += 2,
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\n') => {
                        line += 1;
                        i += 1;
                    }
                    Some(b'\r') => {
                        if bytes.get(i + 1) != Some(&b'\n') {
                            line += 1;
                        }
                        i += 1;
                    }
                    Some(_) => i += 1,
                }
            }
            // After the closing quote: a separator, a line end or the end of the file.
            match bytes.get(i) {
                None | Some(b',' | b'\n' | b'\r') => {}
                Some(_) => return Err(TabularError::TextAfterQuote { line }),
            }
            at_cell_start = false;
            continue;
        }
        match b {
            b',' => at_cell_start = true,
            b'\n' => {
                line += 1;
                at_cell_start = true;
            }
            b'\r' => {
                if bytes.get(i + 1) != Some(&b'\n') {
                    line += 1;
                }
                at_cell_start = true;
            }
            _ => at_cell_start = false,
        }
        i += 1;
    }
    Ok(())
}

/// The first header name used twice, with both (1-based) column numbers; the header is on
/// `line`.
fn check_distinct_columns(line: usize, header: &[String]) -> Result<(), TabularError> {
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, name) in header.iter().enumerate() {
        if name.is_empty() {
            continue;
        }
        if let Some(first) = seen.insert(name.as_str(), i + 1) {
            return Err(TabularError::DuplicateColumn {
                line,
                name: name.clone(),
                first,
                second: i + 1,
            });
        }
    }
    Ok(())
}

fn read_csv(bytes: &[u8], max_rows: usize) -> Result<Table, TabularError> {
    let text = csv_text(bytes)?;
    if text.trim().is_empty() {
        return Err(TabularError::Empty);
    }
    check_quotes(&text)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    let mut header: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    let mut last_line = 0usize;
    let mut lines = LineCounter::new(text.as_bytes());
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e
                    .position()
                    .map(|p| p.line() as usize)
                    .unwrap_or(last_line + 1);
                return Err(TabularError::Csv {
                    line,
                    message: e.to_string(),
                });
            }
        }
        let line = match record.position() {
            Some(p) => lines.line_at(p.byte() as usize),
            None => last_line + 1,
        };
        last_line = line;
        if all_blank(record.iter()) {
            continue;
        }
        match &header {
            None => {
                let mut names: Vec<String> = record.iter().map(|c| c.trim().to_owned()).collect();
                // Excel leaves trailing separators after the last column; they name nothing.
                while names.last().is_some_and(String::is_empty) {
                    names.pop();
                }
                if names.len() > MAX_COLUMNS {
                    return Err(TabularError::TooManyColumns {
                        line,
                        max: MAX_COLUMNS,
                    });
                }
                check_distinct_columns(line, &names)?;
                header = Some(names);
            }
            Some(names) => {
                let width = names.len();
                let used = (0..record.len())
                    .rev()
                    .find(|&i| record.get(i).is_some_and(|c| !c.trim().is_empty()))
                    .map_or(0, |i| i + 1);
                if used > width {
                    return Err(TabularError::RowTooLong {
                        line,
                        found: used,
                        expected: width,
                    });
                }
                if rows.len() >= max_rows {
                    return Err(TabularError::TooManyRows { max: max_rows });
                }
                let mut cells = Vec::with_capacity(width);
                cells.extend(record.iter().take(width).map(str::to_owned));
                cells.resize(width, String::new());
                rows.push(TableRow { line, cells });
            }
        }
    }
    match header {
        Some(header) => Ok(Table { header, rows }),
        None => Err(TabularError::NoHeader),
    }
}

/// The line a record starts on, from the byte offset csv gives for it. csv's own line count is
/// one short after a CRLF (rust-csv issue #395: the record "starts" on the LF of the previous
/// line end), so lines are counted here: LF, CRLF and a lone CR each end a line.
struct LineCounter<'a> {
    text: &'a [u8],
    /// Bytes before `pos` have been counted.
    pos: usize,
    /// 1 + the line breaks before `pos`.
    line: usize,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a [u8]) -> Self {
        LineCounter {
            text,
            pos: 0,
            line: 1,
        }
    }

    /// The line of the first byte at or after `offset` that is not a line break (a record never
    /// starts with one). Offsets must not decrease between calls.
    fn line_at(&mut self, offset: usize) -> usize {
        let mut start = offset.max(self.pos).min(self.text.len());
        while matches!(self.text.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        for i in self.pos..start {
            match self.text[i] {
                b'\n' => self.line += 1,
                b'\r' if self.text.get(i + 1) != Some(&b'\n') => self.line += 1,
                _ => {}
            }
        }
        self.pos = start;
        self.line
    }
}

fn read_xlsx(bytes: &[u8], max_rows: usize) -> Result<Table, TabularError> {
    // calamine and zip parse untrusted bytes; a bug of theirs must not take the server down.
    std::panic::catch_unwind(|| read_xlsx_inner(bytes, max_rows)).unwrap_or_else(|_| {
        Err(TabularError::Xlsx(
            "the workbook is damaged or not an XLSX file".into(),
        ))
    })
}

fn read_xlsx_inner(bytes: &[u8], max_rows: usize) -> Result<Table, TabularError> {
    let xlsx_error = |e: calamine::XlsxError| TabularError::Xlsx(e.to_string());
    let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(xlsx_error)?;
    let Some(sheet) = workbook
        .sheets_metadata()
        .iter()
        .find(|s| s.typ == SheetType::WorkSheet)
        .map(|s| s.name.clone())
    else {
        return Err(TabularError::Xlsx("the workbook has no worksheet".into()));
    };
    let mut cells_reader = workbook
        .worksheet_cells_reader(&sheet)
        .map_err(xlsx_error)?;

    // Non-blank cells by row, in row order whatever order the sheet lists them in. Every row
    // held has a non-blank cell, so at most max_rows + 1 rows (header and data) are held.
    let mut by_row: BTreeMap<u32, Vec<(u32, String)>> = BTreeMap::new();
    let mut saw_cell = false;
    while let Some(cell) = cells_reader.next_cell().map_err(xlsx_error)? {
        let (row, col) = cell.get_position();
        let text = cell_text(cell.get_value());
        saw_cell |= !matches!(cell.get_value(), DataRef::Empty);
        if text.trim().is_empty() {
            continue;
        }
        let line = row as usize + 1;
        if col as usize >= MAX_COLUMNS {
            return Err(TabularError::TooManyColumns {
                line,
                max: MAX_COLUMNS,
            });
        }
        by_row.entry(row).or_default().push((col, text));
        if by_row.len() > max_rows.saturating_add(1) {
            return Err(TabularError::TooManyRows { max: max_rows });
        }
    }
    drop(cells_reader);
    drop(workbook);

    let mut rows_iter = by_row.into_iter();
    let Some((header_row, mut header_cells)) = rows_iter.next() else {
        return Err(if saw_cell {
            TabularError::NoHeader
        } else {
            TabularError::Empty
        });
    };
    header_cells.sort_by_key(|(col, _)| *col);
    let width = header_cells.last().map_or(0, |(col, _)| *col as usize + 1);
    let mut header = vec![String::new(); width];
    for (col, text) in header_cells {
        if let Some(slot) = header.get_mut(col as usize) {
            *slot = text.trim().to_owned();
        }
    }
    check_distinct_columns(header_row as usize + 1, &header)?;

    let mut rows = Vec::with_capacity(rows_iter.len());
    for (row, mut row_cells) in rows_iter {
        let line = row as usize + 1;
        row_cells.sort_by_key(|(col, _)| *col);
        let used = row_cells.last().map_or(0, |(col, _)| *col as usize + 1);
        if used > width {
            return Err(TabularError::RowTooLong {
                line,
                found: used,
                expected: width,
            });
        }
        let mut cells = vec![String::new(); width];
        for (col, text) in row_cells {
            if let Some(slot) = cells.get_mut(col as usize) {
                *slot = text;
            }
        }
        rows.push(TableRow { line, cells });
    }
    Ok(Table { header, rows })
}

/// A cell's value as the text a person sees in it.
fn cell_text(value: &DataRef<'_>) -> String {
    match value {
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => format_float(*f),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(dt) => format_excel_datetime(dt),
        DataRef::DateTimeIso(s) => format_iso_datetime(s),
        DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(_) | DataRef::Empty => String::new(),
    }
}

/// A number as Excel shows it in a general cell: whole numbers without ".0" (exactly, as an
/// integer, when they fit in i64), others rounded to Excel's 15 significant digits so that a
/// stored 0.30000000000000004 reads "0.3". Never an exponent.
fn format_float(f: f64) -> String {
    if !f.is_finite() {
        return String::new();
    }
    // i64::MIN is exactly representable; i64::MAX + 1 = 2^63 is the first float above range.
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    if f.fract() == 0.0 && (-TWO_POW_63..TWO_POW_63).contains(&f) {
        return (f as i64).to_string();
    }
    let rounded: f64 = format!("{f:.14e}").parse().unwrap_or(f);
    if rounded.fract() == 0.0 && (-TWO_POW_63..TWO_POW_63).contains(&rounded) {
        return (rounded as i64).to_string();
    }
    // Display for f64 is the shortest text that reads back as the same number, and never uses
    // an exponent.
    rounded.to_string()
}

/// An Excel serial date: "YYYY-MM-DD" at midnight, "YYYY-MM-DD HH:MM:SS" otherwise, "HH:MM:SS"
/// for a time of day alone, "H:MM:SS" for a duration.
fn format_excel_datetime(dt: &calamine::ExcelDateTime) -> String {
    let serial = dt.as_f64();
    if dt.is_duration() {
        let total = (serial * 86_400.0).round();
        if !total.is_finite() {
            return String::new();
        }
        let total = total as i64;
        let sign = if total < 0 { "-" } else { "" };
        let total = total.unsigned_abs();
        return format!(
            "{sign}{}:{:02}:{:02}",
            total / 3600,
            total / 60 % 60,
            total % 60
        );
    }
    let (y, mo, d, h, mi, s, _ms) = dt.to_ymd_hms_milli();
    if (0.0..1.0).contains(&serial) {
        return format!("{h:02}:{mi:02}:{s:02}");
    }
    if h == 0 && mi == 0 && s == 0 {
        format!("{y:04}-{mo:02}-{d:02}")
    } else {
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
    }
}

/// An ISO 8601 date/time cell in the same shape as serial dates.
fn format_iso_datetime(s: &str) -> String {
    let Some((date, time)) = s.split_once('T') else {
        return s.to_owned();
    };
    // Whole seconds, as for serial dates.
    let time = time.split('.').next().unwrap_or(time);
    if time.bytes().all(|b| b == b'0' || b == b':') {
        date.to_owned()
    } else {
        format!("{date} {time}")
    }
}

/// CSV for Excel: UTF-8 with a BOM (without one Excel reads Chinese as GBK garbage), CRLF line
/// ends, fields quoted when they hold a comma, quote or line break (RFC 4180).
pub fn write_csv(header: &[String], rows: impl IntoIterator<Item = Vec<String>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice("\u{feff}".as_bytes());
    write_csv_record(&mut out, header);
    for row in rows {
        write_csv_record(&mut out, &row);
    }
    out
}

fn write_csv_record(out: &mut Vec<u8>, cells: &[String]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if cell.contains([',', '"', '\r', '\n']) {
            out.push(b'"');
            for part in cell.split_inclusive('"') {
                out.extend_from_slice(part.as_bytes());
                if part.ends_with('"') {
                    out.push(b'"');
                }
            }
            out.push(b'"');
        } else {
            out.extend_from_slice(cell.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// A sheet name Excel accepts: no `[]:*?/\`, not starting or ending with `'`, at most 31
/// UTF-16 units, not blank.
fn sheet_name(name: &str) -> String {
    let mut cleaned = String::new();
    let mut units = 0;
    for c in name.trim().chars() {
        let c = if matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\') {
            '_'
        } else {
            c
        };
        if units + c.len_utf16() > 31 {
            break;
        }
        units += c.len_utf16();
        cleaned.push(c);
    }
    let cleaned = cleaned.trim_matches('\'').trim();
    if cleaned.is_empty() {
        "Sheet1".to_owned()
    } else {
        cleaned.to_owned()
    }
}

/// An XLSX workbook of one sheet: a bold, frozen header row, then every cell as text in
/// text-formatted columns, so ID numbers, phone numbers and codes keep their leading zeros and
/// digits. `sheet_name` is adjusted to Excel's rules where needed.
pub fn write_xlsx(
    sheet_name: &str,
    header: &[String],
    rows: impl IntoIterator<Item = Vec<String>>,
) -> Result<Vec<u8>, TabularError> {
    use rust_xlsxwriter::{Format, Workbook};
    let xlsx_error = |e: rust_xlsxwriter::XlsxError| TabularError::Xlsx(e.to_string());
    if header.len() > MAX_COLUMNS {
        return Err(TabularError::TooManyColumns {
            line: 1,
            max: MAX_COLUMNS,
        });
    }
    let text = Format::new().set_num_format("@");
    let bold = Format::new().set_num_format("@").set_bold();
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet
        .set_name(self::sheet_name(sheet_name))
        .map_err(xlsx_error)?;
    for (col, name) in header.iter().enumerate() {
        // MAX_COLUMNS is below Excel's 16,384, so the column fits a u16.
        let col = col as u16;
        sheet.set_column_format(col, &text).map_err(xlsx_error)?;
        sheet
            .write_string_with_format(0, col, name.as_str(), &bold)
            .map_err(xlsx_error)?;
    }
    sheet.set_freeze_panes(1, 0).map_err(xlsx_error)?;
    for (i, row) in rows.into_iter().enumerate() {
        let line = i + 2;
        if line > XLSX_MAX_ROWS {
            return Err(TabularError::TooManyRows {
                max: XLSX_MAX_ROWS - 1,
            });
        }
        if row.len() > MAX_COLUMNS {
            return Err(TabularError::TooManyColumns {
                line,
                max: MAX_COLUMNS,
            });
        }
        for (col, cell) in row.into_iter().enumerate() {
            if cell.is_empty() {
                continue;
            }
            sheet
                .write_string_with_format((line - 1) as u32, col as u16, cell, &text)
                .map_err(xlsx_error)?;
        }
    }
    workbook.save_to_buffer().map_err(xlsx_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn strings(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| (*c).to_owned()).collect()
    }

    fn csv(text: &str) -> Result<Table, TabularError> {
        read_table(text.as_bytes(), TabularFormat::Csv, 100)
    }

    fn lines_and_cells(table: &Table) -> Vec<(usize, Vec<&str>)> {
        table
            .rows
            .iter()
            .map(|r| (r.line, r.cells.iter().map(String::as_str).collect()))
            .collect()
    }

    #[test]
    fn detects_xlsx_by_zip_magic_and_everything_else_as_csv() {
        assert_eq!(
            TabularFormat::detect(b"PK\x03\x04rest"),
            TabularFormat::Xlsx
        );
        assert_eq!(TabularFormat::detect(b"name,phone\n"), TabularFormat::Csv);
        assert_eq!(TabularFormat::detect(b""), TabularFormat::Csv);
        assert_eq!(TabularFormat::Xlsx.extension(), "xlsx");
        assert!(TabularFormat::Csv.content_type().starts_with("text/csv"));
    }

    #[test]
    fn a_utf8_csv_with_bom_reads_its_chinese_header_without_the_bom() {
        let table = csv("\u{feff}姓名, 手机号 \r\n张三,13800138000\r\n").unwrap();
        assert_eq!(table.header, strings(&["姓名", "手机号"]));
        assert_eq!(
            lines_and_cells(&table),
            vec![(2, vec!["张三", "13800138000"])]
        );
    }

    #[test]
    fn a_gb18030_csv_as_chinese_excel_saves_it_is_decoded() {
        let (bytes, _, _) = encoding_rs::GB18030.encode("姓名,科室\r\n李四,心内科\r\n");
        assert!(
            std::str::from_utf8(&bytes).is_err(),
            "the sample must not be UTF-8"
        );
        let table = read_table(&bytes, TabularFormat::Csv, 10).unwrap();
        assert_eq!(table.header, strings(&["姓名", "科室"]));
        assert_eq!(table.rows[0].cells, strings(&["李四", "心内科"]));
    }

    #[test]
    fn bytes_neither_utf8_nor_gb18030_are_an_error_naming_their_line() {
        // 0xFF starts no GB18030 sequence and no UTF-8 one.
        let mut bytes = "姓名,科室\n张三,心内科\n".as_bytes().to_vec();
        bytes.extend_from_slice(b"\xff\xfe\xfd,x\n");
        let err = read_table(&bytes, TabularFormat::Csv, 10).unwrap_err();
        assert_eq!(err, TabularError::InvalidEncoding { line: 3 });
        assert_eq!(err.code(), "invalid_encoding");
        assert!(err.message(Lang::Zh).contains("第 3 行"));
        // A UTF-8 BOM with broken UTF-8 after it is not read with replacement characters.
        let mut bytes = b"\xef\xbb\xbfname\r\n".to_vec();
        bytes.extend_from_slice(b"ab\xc3(\r\n");
        assert_eq!(
            read_table(&bytes, TabularFormat::Csv, 10).unwrap_err(),
            TabularError::InvalidEncoding { line: 2 }
        );
    }

    #[test]
    fn an_unbalanced_quote_is_an_error_naming_its_line_not_a_swallowed_value() {
        let err = csv("name,mrn\n张三,M1\n\"李四,M2\n王五,M3\n").unwrap_err();
        assert_eq!(err, TabularError::UnclosedQuote { line: 3 });
        assert_eq!(err.code(), "unbalanced_quote");
        let err = csv("name,mrn\r\n\"张三\"x,M1\r\n").unwrap_err();
        assert_eq!(err, TabularError::TextAfterQuote { line: 2 });
        // Well-formed quoting, and a quote inside an unquoted cell, still read.
        let table = csv("name,h\n\"a \"\"b\"\"\",5'11\"\n\"\",\"x\ny\"\n").unwrap();
        assert_eq!(table.rows[0].cells, strings(&["a \"b\"", "5'11\""]));
        assert_eq!(table.rows[1].cells, strings(&["", "x\ny"]));
    }

    #[test]
    fn a_header_naming_a_column_twice_is_an_error_naming_both_columns() {
        let err = csv("name,mrn,name\nA,1,B\n").unwrap_err();
        assert_eq!(
            err,
            TabularError::DuplicateColumn {
                line: 1,
                name: "name".into(),
                first: 1,
                second: 3
            }
        );
        assert_eq!(err.column(), Some("name"));
        assert!(err.message(Lang::Zh).contains("第 1 列和第 3 列"));
        let bytes =
            write_xlsx("s", &strings(&["姓名", "姓名"]), vec![strings(&["a", "b"])]).unwrap();
        assert_eq!(
            read_table(&bytes, TabularFormat::Xlsx, 10)
                .unwrap_err()
                .code(),
            "duplicate_column"
        );
    }

    #[test]
    fn quoted_commas_and_line_breaks_stay_in_their_cell_and_lines_count_from_the_file() {
        let text = "name,note\n\
                    a,\"x, y\"\n\
                    b,\"first\nsecond\"\n\
                    \n\
                    ,,\n\
                    c,\"say \"\"hi\"\"\"\n";
        let table = csv(text).unwrap();
        assert_eq!(
            lines_and_cells(&table),
            vec![
                (2, vec!["a", "x, y"]),
                (3, vec!["b", "first\nsecond"]),
                // Line 4 holds the rest of b's note, 5 is blank, 6 is an empty row: skipped,
                // but still counted.
                (7, vec!["c", "say \"hi\""]),
            ]
        );
    }

    #[test]
    fn line_numbers_are_true_with_crlf_and_lone_cr_line_ends() {
        for end in ["\n", "\r\n", "\r"] {
            let multi_line = format!("b,\"x{end}y\"");
            let text = ["name,note", "a,1", "", &multi_line, ",", "c,3", ""].join(end);
            let table = csv(&text).unwrap();
            assert_eq!(
                table.rows.iter().map(|r| r.line).collect::<Vec<_>>(),
                vec![2, 4, 7],
                "line end {end:?}"
            );
            assert_eq!(table.rows[1].cells[1], format!("x{end}y"));
        }
    }

    #[test]
    fn short_rows_are_padded_and_long_rows_name_their_line() {
        let table = csv("a,b,c\n1\n1,2,3\n").unwrap();
        assert_eq!(table.rows[0].cells, strings(&["1", "", ""]));
        assert_eq!(table.rows[1].cells, strings(&["1", "2", "3"]));

        let err = csv("a,b\n1,2\n1,2,3\n").unwrap_err();
        assert_eq!(
            err,
            TabularError::RowTooLong {
                line: 3,
                found: 3,
                expected: 2
            }
        );
        assert_eq!(err.line(), Some(3));
        assert!(err.message(Lang::Zh).contains("第 3 行"));
    }

    #[test]
    fn trailing_separators_excel_leaves_are_not_columns() {
        let table = csv("a,b,,\n1,2,,\n").unwrap();
        assert_eq!(table.header, strings(&["a", "b"]));
        assert_eq!(table.rows[0].cells, strings(&["1", "2"]));
        let many_empty = format!("a{}\n1\n", ",".repeat(5000));
        assert_eq!(csv(&many_empty).unwrap().header, strings(&["a"]));
        let too_wide = format!("a{}\n", ",b".repeat(MAX_COLUMNS));
        assert_eq!(
            csv(&too_wide).unwrap_err(),
            TabularError::TooManyColumns {
                line: 1,
                max: MAX_COLUMNS
            }
        );
    }

    #[test]
    fn empty_files_and_files_without_a_header_are_errors() {
        assert_eq!(csv("").unwrap_err(), TabularError::Empty);
        assert_eq!(csv("\u{feff}").unwrap_err(), TabularError::Empty);
        assert_eq!(csv(" \r\n\r\n").unwrap_err(), TabularError::Empty);
        assert_eq!(csv(",,\n , \n").unwrap_err(), TabularError::NoHeader);
        // A header alone is a table without rows.
        let table = csv("name\n").unwrap();
        assert_eq!(table.header, strings(&["name"]));
        assert!(table.rows.is_empty());
    }

    #[test]
    fn more_rows_than_allowed_is_an_error_and_empty_rows_do_not_count() {
        let text = "a\n1\n\n,\n2\n3\n";
        assert_eq!(
            read_table(text.as_bytes(), TabularFormat::Csv, 3)
                .unwrap()
                .rows
                .len(),
            3
        );
        assert_eq!(
            read_table(text.as_bytes(), TabularFormat::Csv, 2).unwrap_err(),
            TabularError::TooManyRows { max: 2 }
        );
        let xlsx = write_xlsx("s", &strings(&["a"]), (1..=3).map(|i| vec![i.to_string()])).unwrap();
        assert_eq!(
            read_table(&xlsx, TabularFormat::Xlsx, 3)
                .unwrap()
                .rows
                .len(),
            3
        );
        assert_eq!(
            read_table(&xlsx, TabularFormat::Xlsx, 2).unwrap_err(),
            TabularError::TooManyRows { max: 2 }
        );
    }

    #[test]
    fn a_legacy_xls_file_is_refused_with_a_clear_error() {
        let mut bytes = OLE_MAGIC.to_vec();
        bytes.extend_from_slice(&[0; 64]);
        assert_eq!(
            read_table(&bytes, TabularFormat::Csv, 10).unwrap_err(),
            TabularError::LegacyXls
        );
    }

    #[test]
    fn write_csv_starts_with_a_bom_quotes_what_needs_it_and_reads_back() {
        let header = strings(&["姓名", "备注"]);
        let rows = vec![
            strings(&["张三", "a, b"]),
            strings(&["李四", "他说\"好\"\n第二行"]),
            strings(&["王五", ""]),
        ];
        let bytes = write_csv(&header, rows.clone());
        assert!(bytes.starts_with("\u{feff}".as_bytes()));
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.contains("张三,\"a, b\"\r\n"));
        assert!(text.contains("\"他说\"\"好\"\"\n第二行\""));

        let table = read_table(&bytes, TabularFormat::Csv, 10).unwrap();
        assert_eq!(table.header, header);
        let cells: Vec<Vec<String>> = table.rows.into_iter().map(|r| r.cells).collect();
        assert_eq!(cells, rows);
    }

    #[test]
    fn an_xlsx_we_write_reads_back_cell_for_cell() {
        let header = strings(&["姓名", "手机号", "身份证号", "备注"]);
        let rows = vec![
            strings(&["张三", "013800138000", "110101199003070011", "多行\n备注"]),
            strings(&["李四", "", "11010119900307001X", ""]),
            strings(&["", "0012", "", "12.50"]),
        ];
        let bytes = write_xlsx("患者", &header, rows.clone()).unwrap();
        assert_eq!(TabularFormat::detect(&bytes), TabularFormat::Xlsx);
        let table = read_table(&bytes, TabularFormat::Xlsx, 10).unwrap();
        assert_eq!(table.header, header);
        assert_eq!(
            table.rows.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        let cells: Vec<Vec<String>> = table.rows.into_iter().map(|r| r.cells).collect();
        assert_eq!(cells, rows);
    }

    #[test]
    fn write_xlsx_accepts_sheet_names_excel_would_refuse() {
        for name in [
            "",
            "a/b:c",
            "'quoted'",
            "一个非常非常非常非常非常非常非常非常非常非常长的工作表名称",
        ] {
            let bytes = write_xlsx(name, &strings(&["a"]), vec![strings(&["1"])]).unwrap();
            let table = read_table(&bytes, TabularFormat::Xlsx, 10).unwrap();
            assert_eq!(table.rows[0].cells, strings(&["1"]), "sheet name {name:?}");
        }
    }

    #[test]
    fn typed_excel_cells_read_as_the_text_excel_shows() {
        use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
        let mut workbook = Workbook::new();
        let sheet = workbook.add_worksheet();
        let date = Format::new().set_num_format("yyyy-mm-dd");
        let datetime = Format::new().set_num_format("yyyy-mm-dd hh:mm");
        // The table starts on row 3 of the sheet, under two empty rows.
        for (col, name) in [
            "整数",
            "小数",
            "日期",
            "布尔",
            "时间",
            "大数",
            "浮点误差",
            "文本",
        ]
        .into_iter()
        .enumerate()
        {
            sheet.write_string(2, col as u16, name).unwrap();
        }
        sheet.write_number(3, 0, 12).unwrap();
        sheet.write_number(3, 1, 12.5).unwrap();
        sheet
            .write_datetime_with_format(3, 2, ExcelDateTime::from_ymd(2026, 11, 24).unwrap(), &date)
            .unwrap();
        sheet.write_boolean(3, 3, true).unwrap();
        sheet
            .write_datetime_with_format(
                3,
                4,
                ExcelDateTime::from_ymd(2026, 11, 24)
                    .unwrap()
                    .and_hms(9, 30, 0)
                    .unwrap(),
                &datetime,
            )
            .unwrap();
        sheet.write_number(3, 5, 123_456_789_012_345_678.0).unwrap();
        sheet.write_number(3, 6, 0.1 + 0.2).unwrap();
        sheet.write_string(3, 7, "007").unwrap();
        sheet.write_number(4, 0, -3).unwrap();
        sheet.write_boolean(4, 3, false).unwrap();
        let bytes = workbook.save_to_buffer().unwrap();

        let table = read_table(&bytes, TabularFormat::Xlsx, 10).unwrap();
        assert_eq!(table.header[0], "整数");
        assert_eq!(table.rows[0].line, 4);
        assert_eq!(
            table.rows[0].cells,
            strings(&[
                "12",
                "12.5",
                "2026-11-24",
                "true",
                "2026-11-24 09:30:00",
                "123456789012345680",
                "0.3",
                "007"
            ])
        );
        assert_eq!(table.rows[1].line, 5);
        assert_eq!(
            table.rows[1].cells,
            strings(&["-3", "", "", "false", "", "", "", ""])
        );
    }

    #[test]
    fn an_xlsx_row_wider_than_its_header_names_its_line() {
        use rust_xlsxwriter::Workbook;
        let mut workbook = Workbook::new();
        let sheet = workbook.add_worksheet();
        sheet.write_string(0, 0, "a").unwrap();
        sheet.write_string(1, 0, "1").unwrap();
        sheet.write_string(2, 2, "stray").unwrap();
        let bytes = workbook.save_to_buffer().unwrap();
        assert_eq!(
            read_table(&bytes, TabularFormat::Xlsx, 10).unwrap_err(),
            TabularError::RowTooLong {
                line: 3,
                found: 3,
                expected: 1
            }
        );
    }

    #[test]
    fn an_xlsx_without_cells_is_empty() {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        workbook.add_worksheet();
        let bytes = workbook.save_to_buffer().unwrap();
        assert_eq!(
            read_table(&bytes, TabularFormat::Xlsx, 10).unwrap_err(),
            TabularError::Empty
        );
    }

    #[test]
    fn a_ten_thousand_row_export_reads_back_in_both_formats() {
        let header = strings(&["病历号", "姓名", "手机号", "科室"]);
        let rows = || {
            (0..10_000).map(|i| {
                vec![
                    format!("P{i:08}"),
                    format!("患者{i}"),
                    format!("0138{i:08}"),
                    "心内科".to_owned(),
                ]
            })
        };
        let csv_bytes = write_csv(&header, rows());
        let xlsx_bytes = write_xlsx("患者", &header, rows()).unwrap();
        for (bytes, format) in [
            (&csv_bytes, TabularFormat::Csv),
            (&xlsx_bytes, TabularFormat::Xlsx),
        ] {
            let table = read_table(bytes, format, 10_000).unwrap();
            assert_eq!(table.rows.len(), 10_000, "{format:?}");
            let last = table.rows.last().unwrap();
            assert_eq!(last.line, 10_001, "{format:?}");
            assert_eq!(last.cells[2], "013800009999", "{format:?}");
            // The cells hold the text and little else: no more than a few times the CSV.
            let held: usize = table
                .rows
                .iter()
                .map(|r| {
                    std::mem::size_of::<TableRow>()
                        + r.cells.capacity() * std::mem::size_of::<String>()
                        + r.cells.iter().map(String::capacity).sum::<usize>()
                })
                .sum();
            assert!(held < csv_bytes.len() * 4, "{format:?}: {held} bytes held");
        }
    }

    #[test]
    fn number_text_has_no_trailing_zero_and_no_exponent() {
        assert_eq!(format_float(12.0), "12");
        assert_eq!(format_float(-0.5), "-0.5");
        assert_eq!(format_float(1e20), "100000000000000000000");
        assert_eq!(format_float(1.5e-7), "0.00000015");
        assert_eq!(format_float(f64::NAN), "");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn garbage_bytes_never_panic_as_csv(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = read_table(&bytes, TabularFormat::Csv, 50);
        }

        #[test]
        fn garbage_after_zip_magic_never_panics_as_xlsx(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut file = b"PK\x03\x04".to_vec();
            file.extend_from_slice(&bytes);
            let _ = read_table(&file, TabularFormat::Xlsx, 50);
        }

        #[test]
        fn damaged_workbooks_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
            let mut file = write_xlsx(
                "s",
                &strings(&["姓名", "手机号"]),
                vec![strings(&["张三", "013800138000"])],
            )
            .unwrap();
            for (at, byte) in flips {
                let i = at.index(file.len());
                file[i] ^= byte | 1;
            }
            let _ = read_table(&file, TabularFormat::Xlsx, 50);
        }
    }
}

//! Import and export: tables of cells in CSV and XLSX, and cell text to field values.

//! Paging of the access lists: pages count from 1; `per_page` defaults to 50, at most 1000.

pub const DEFAULT_PER_PAGE: u32 = 50;
pub const MAX_PER_PAGE: u32 = 1000;

/// `(limit, offset)` for a 1-based `page`; 0 means the first page, and a `per_page` of 0 the
/// default.
pub fn limit_offset(page: u32, per_page: u32) -> (i64, i64) {
    let per_page = match per_page {
        0 => DEFAULT_PER_PAGE,
        n => n.min(MAX_PER_PAGE),
    };
    let page = page.max(1);
    let offset = i64::from(page - 1) * i64::from(per_page);
    (i64::from(per_page), offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_clamped() {
        assert_eq!(limit_offset(1, 50), (50, 0));
        assert_eq!(limit_offset(0, 0), (50, 0));
        assert_eq!(limit_offset(3, 10), (10, 20));
        assert_eq!(limit_offset(2, 5000), (1000, 1000));
        assert_eq!(limit_offset(u32::MAX, u32::MAX).0, 1000);
    }
}

//! The engine reads time only through a [`Clock`]; a settable clock exists only under the
//! `test-clock` feature.

use std::sync::Arc;
use time::OffsetDateTime;

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> OffsetDateTime;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        // Stored timestamps keep microseconds; truncating here keeps every copy equal.
        let now = OffsetDateTime::now_utc();
        now.replace_nanosecond(now.nanosecond() / 1000 * 1000)
            .unwrap_or(now)
    }
}

pub type SharedClock = Arc<dyn Clock>;

#[cfg(feature = "test-clock")]
pub use test_clock::TestClock;

#[cfg(feature = "test-clock")]
mod test_clock {
    use super::Clock;
    use std::sync::Mutex;
    use time::{Duration, OffsetDateTime};

    /// A clock tests set and advance by hand.
    #[derive(Debug)]
    pub struct TestClock(Mutex<OffsetDateTime>);

    impl TestClock {
        pub fn new(at: OffsetDateTime) -> Self {
            Self(Mutex::new(at))
        }
        pub fn set(&self, at: OffsetDateTime) {
            *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
        }
        pub fn advance(&self, by: Duration) {
            let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
            *now += by;
        }
    }

    impl Clock for TestClock {
        fn now(&self) -> OffsetDateTime {
            *self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }
}

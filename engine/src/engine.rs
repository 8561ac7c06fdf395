//! The engine handle the server holds: the database, the key, the clock, settings, and the
//! cache of compiled entity definitions.

use crate::clock::SharedClock;
use crate::crypto::Keyring;
use crate::entities::Catalog;
use crate::error::Result;
use crate::records::events::ChangeHook;
use crate::records::totals::RecentCounts;
use crate::store::{self, Db};
use std::sync::Arc;
use time::{Date, OffsetDateTime, UtcOffset};

/// Settings the engine's rules depend on.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Dates (`today`, autonumber years, date buckets) are read in this zone.
    pub timezone: jiff::tz::TimeZone,
    /// The longest an API token may live, in days (`token_max_days`).
    pub token_max_days: u32,
    /// URL prefixes a flow's `webhook_call` may post to (`flow_webhook_allow`); none by default.
    pub flow_webhook_allow: Vec<String>,
    /// Days finished flow runs, finished jobs and passed change events are kept.
    pub retention_days: u32,
}

/// The default of `retention_days`.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;

/// The default of `token_max_days`.
pub const DEFAULT_TOKEN_MAX_DAYS: u32 = 365;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timezone: jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC),
            token_max_days: DEFAULT_TOKEN_MAX_DAYS,
            flow_webhook_allow: Vec::new(),
            retention_days: DEFAULT_RETENTION_DAYS,
        }
    }
}

impl Settings {
    pub fn with_timezone(name: &str) -> Result<Settings> {
        let timezone = jiff::tz::TimeZone::get(name).map_err(|e| {
            crate::EngineError::Configuration(format!("unknown time zone {name:?}: {e}"))
        })?;
        Ok(Settings {
            timezone,
            ..Settings::default()
        })
    }
}

#[derive(Clone)]
pub struct Engine {
    pub db: Db,
    pub keys: Arc<Keyring>,
    pub clock: SharedClock,
    pub settings: Arc<Settings>,
    pub(crate) catalog: Arc<Catalog>,
    /// Code that writes rows inside every record write's transaction (`records::events`).
    pub(crate) change_hooks: Arc<std::sync::RwLock<Vec<Arc<dyn ChangeHook>>>>,
    /// Principals loaded in the last second (`access::principal_cache`).
    pub(crate) principals: Arc<crate::access::principal_cache::PrincipalCache>,
    /// SQLite's list estimates past the exact-count bound (`records::totals`).
    pub(crate) recent_counts: Arc<RecentCounts>,
    /// Compiled flow versions (`flows`).
    pub(crate) flows: Arc<crate::flows::FlowCache>,
    /// The enabled flows as the dispatcher matches them (`flows::dispatch`).
    pub(crate) enabled_flows: Arc<crate::flows::EnabledFlows>,
    /// Wakes the flow worker loop after a commit that made work for it.
    pub(crate) flow_wake: crate::jobs::JobWake,
    /// Dashboard answers, kept exactly (`reports::dashboard_cache`).
    pub(crate) dashboard_cache: Arc<crate::reports::dashboard_cache::DashboardCache>,
}

impl Engine {
    /// Migrates the database, checks the key against it and loads the definitions.
    pub async fn open(
        db: Db,
        keys: Keyring,
        clock: SharedClock,
        settings: Settings,
    ) -> Result<Engine> {
        store::migrate(&db).await?;
        store::check_key(&db, &keys).await?;
        let engine = Engine {
            db,
            keys: Arc::new(keys),
            clock,
            settings: Arc::new(settings),
            catalog: Arc::new(Catalog::default()),
            change_hooks: Arc::default(),
            principals: Arc::default(),
            recent_counts: Arc::default(),
            flows: Arc::default(),
            enabled_flows: Arc::default(),
            flow_wake: crate::jobs::JobWake::new(),
            dashboard_cache: Arc::default(),
        };
        // The core pack's entities (task, message, consent) exist before anything else runs.
        engine.install_core_pack().await?;
        // Loaded after the install, so an instance that waited for another's install sees it.
        engine.catalog.reload(&engine.db).await?;
        // Text fields of older databases gain their pinyin columns first: every projection
        // writer, the backfills below included, fills them.
        engine.ensure_pinyin_keys().await?;
        // Finish what an interrupted definition change left: backfills, unique indexes.
        engine.resume_definition_work().await?;
        // Older databases' plain projection indexes become partial over live rows, once.
        engine.ensure_live_indexes().await?;
        engine.init_flow_cursor().await?;
        Ok(engine)
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The zone's offset at `at`.
    pub fn utc_offset_at(&self, at: OffsetDateTime) -> UtcOffset {
        let seconds = jiff::Timestamp::from_second(at.unix_timestamp())
            .map(|ts| self.settings.timezone.to_offset(ts).seconds())
            .unwrap_or(0);
        UtcOffset::from_whole_seconds(seconds).unwrap_or(UtcOffset::UTC)
    }

    /// Today's date in the configured zone.
    pub fn today(&self) -> Date {
        let now = self.now();
        now.to_offset(self.utc_offset_at(now)).date()
    }
}

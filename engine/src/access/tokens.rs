//! API tokens for integrations (`Authorization: Bearer kd_…`). The plaintext is shown once,
//! at creation; the database keeps only its SHA-256.

use crate::access::principal::Principal;
use crate::access::users::load_principal;
use crate::clock::Clock;
use crate::error::{EngineError, FieldError, Result};
use crate::store::{Conn, Db, DbRow};
use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

pub const TOKEN_PREFIX: &str = "kd_";
pub const MAX_TOKEN_NAME_CHARS: usize = 100;
/// `last_used_at` is written at most this often per token.
const LAST_USED_RESOLUTION: Duration = Duration::minutes(1);

/// A token as listed: never its plaintext or hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

const TOKEN_COLUMNS: &str = "id, user_id, name, created_at, last_used_at, expires_at, revoked_at";

fn token_from_row(row: &DbRow) -> Result<TokenInfo> {
    Ok(TokenInfo {
        id: row.req_uuid("id")?,
        user_id: row.req_uuid("user_id")?,
        name: row.req_text("name")?,
        created_at: row.req_time("created_at")?,
        last_used_at: row.time("last_used_at")?,
        expires_at: row.time("expires_at")?,
        revoked_at: row.time("revoked_at")?,
    })
}

pub(crate) fn token_hash(plaintext: &str) -> String {
    hex::encode(Sha256::digest(plaintext.as_bytes()))
}

/// The expiry a new token gets: the one asked for, which may not lie beyond `max_days` from
/// now, or else exactly `max_days` from now.
pub(crate) fn bounded_expiry(
    now: OffsetDateTime,
    asked: Option<OffsetDateTime>,
    max_days: u32,
) -> Result<OffsetDateTime> {
    let latest = now + Duration::days(i64::from(max_days));
    match asked {
        None => Ok(latest),
        Some(t) if t > latest => {
            let message = format!(
                "令牌有效期最长 {max_days} 天 / A token expires at most {max_days} days from now"
            );
            Err(EngineError::BadRequest {
                message: message.clone(),
                details: vec![FieldError::new("expires_at", "too_late", message)],
            })
        }
        Some(t) => Ok(t),
    }
}

/// Creates a token for `user_id` as the platform itself. Returns it and its plaintext, which
/// is not kept.
pub async fn create_token(
    db: &Db,
    clock: &dyn Clock,
    user_id: Uuid,
    name: &str,
    expires_at: Option<OffsetDateTime>,
) -> Result<(TokenInfo, String)> {
    insert_token(
        &mut db.acquire().await?.conn(),
        clock,
        user_id,
        name,
        expires_at,
    )
    .await
}

/// Inserts a token for `user_id` on `conn`. Returns it and its plaintext, which is not kept.
pub(crate) async fn insert_token(
    conn: &mut Conn<'_>,
    clock: &dyn Clock,
    user_id: Uuid,
    name: &str,
    expires_at: Option<OffsetDateTime>,
) -> Result<(TokenInfo, String)> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_TOKEN_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(EngineError::bad_request(format!(
            "令牌名称须为 1 到 {MAX_TOKEN_NAME_CHARS} 个字符 / Token names are 1 to {MAX_TOKEN_NAME_CHARS} characters"
        )));
    }
    let now = clock.now();
    if expires_at.is_some_and(|t| t <= now) {
        return Err(EngineError::bad_request(
            "令牌的过期时间须在将来 / A token's expiry must be in the future",
        ));
    }
    if conn
        .fetch_optional("SELECT id FROM users WHERE id = $1", vec![user_id.into()])
        .await?
        .is_none()
    {
        return Err(EngineError::not_found(format!("user {user_id}")));
    }
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
    let plaintext = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    );
    let info = TokenInfo {
        id: Uuid::now_v7(),
        user_id,
        name: name.to_string(),
        created_at: now,
        last_used_at: None,
        expires_at,
        revoked_at: None,
    };
    conn.execute(
        "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at, last_used_at, expires_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        vec![
            info.id.into(),
            user_id.into(),
            info.name.clone().into(),
            token_hash(&plaintext).into(),
            now.into(),
            None::<OffsetDateTime>.into(),
            expires_at.into(),
            None::<OffsetDateTime>.into(),
        ],
    )
    .await?;
    Ok((info, plaintext))
}

/// Whether `plaintext` can be a token at all, so junk never reaches the database.
pub(crate) fn well_formed(plaintext: &str) -> bool {
    plaintext.starts_with(TOKEN_PREFIX) && plaintext.len() <= 128
}

/// The principal a bearer token acts as, and the token's expiry. An unknown, revoked or expired
/// token, or one whose user is disabled, is `Unauthenticated`.
pub async fn authenticate_token(
    db: &Db,
    clock: &dyn Clock,
    plaintext: &str,
) -> Result<(Principal, Option<OffsetDateTime>)> {
    if !well_formed(plaintext) {
        return Err(EngineError::Unauthenticated);
    }
    let row = db
        .fetch_optional(
            &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1"),
            vec![token_hash(plaintext).into()],
        )
        .await?
        .ok_or(EngineError::Unauthenticated)?;
    let token = token_from_row(&row)?;
    let now = clock.now();
    if token.revoked_at.is_some() || token.expires_at.is_some_and(|t| t <= now) {
        return Err(EngineError::Unauthenticated);
    }
    let mut principal = load_principal(db, token.user_id).await?;
    principal.by_token = true;
    if token
        .last_used_at
        .is_none_or(|t| now - t >= LAST_USED_RESOLUTION)
    {
        db.execute(
            "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 \
             AND (last_used_at IS NULL OR last_used_at <= $3)",
            vec![
                now.into(),
                token.id.into(),
                (now - LAST_USED_RESOLUTION).into(),
            ],
        )
        .await?;
    }
    Ok((principal, token.expires_at))
}

/// A user's tokens, newest first, revoked ones included.
pub async fn list_tokens(db: &Db, user_id: Uuid) -> Result<Vec<TokenInfo>> {
    db.fetch_all(
        &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC, id DESC"),
        vec![user_id.into()],
    )
    .await?
    .iter()
    .map(token_from_row)
    .collect()
}

pub async fn get_token(db: &Db, id: Uuid) -> Result<TokenInfo> {
    token_in(&mut db.acquire().await?.conn(), id).await
}

pub(crate) async fn token_in(conn: &mut Conn<'_>, id: Uuid) -> Result<TokenInfo> {
    let row = conn
        .fetch_optional(
            &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"),
            vec![id.into()],
        )
        .await?
        .ok_or_else(|| EngineError::not_found(format!("token {id}")))?;
    token_from_row(&row)
}

/// Revokes a token; revoking it again keeps the first revocation time.
pub async fn revoke_token(db: &Db, clock: &dyn Clock, id: Uuid) -> Result<TokenInfo> {
    revoke_in(&mut db.acquire().await?.conn(), clock, id).await
}

pub(crate) async fn revoke_in(
    conn: &mut Conn<'_>,
    clock: &dyn Clock,
    id: Uuid,
) -> Result<TokenInfo> {
    conn.execute(
        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        vec![clock.now().into(), id.into()],
    )
    .await?;
    token_in(conn, id).await
}

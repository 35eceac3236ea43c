//! The cookie-only store: the data lives in the signed cookie.

use alloc::string::String;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::store::{Record, SessionStore};

/// Keeps the session data in the cookie itself, signed (not encrypted),
/// like Starlette's default `SessionMiddleware`.
///
/// No backend to run, but: the data is readable by the client (base64url
/// JSON); the cookie, `name=value`, may not exceed 4096 bytes (a larger
/// session fails with [`Error::CookieTooLarge`] at commit); and a session
/// cannot be revoked on the server — logout only drops the cookie, and a
/// copied cookie stays valid until its signed expiry.
///
/// Concurrent requests: each response carries the whole session, and the
/// browser keeps whichever `Set-Cookie` arrives last, so of two requests
/// that change the session at once only one's changes survive, and
/// increments can be lost. Use a server-side store where that matters.
///
/// ```
/// use edge_session::{CookieStore, SessionStore, SessionId, Record};
/// # edge_session::testing::block_on_ready(async {
/// let store = CookieStore::new();
/// let mut record = Record::new();
/// record.insert("k".into(), "v".into());
/// let id = store.save(&SessionId::parse("ignored").unwrap(), &record, 60).await?;
/// assert_eq!(id.as_str(), "eyJrIjoidiJ9"); // base64url of {"k":"v"}
/// assert_eq!(store.load(&id).await?, Some(record));
/// # Ok::<(), edge_session::Error>(())
/// # })?;
/// # Ok::<(), edge_session::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct CookieStore {
    _priv: (),
}

impl CookieStore {
    /// The cookie store.
    pub fn new() -> Self {
        CookieStore { _priv: () }
    }

    fn encode(record: &Record) -> Result<SessionId> {
        let json = crate::store::encode_record(record)?;
        let mut id = String::with_capacity(json.len() * 4 / 3 + 4);
        URL_SAFE_NO_PAD.encode_string(&json, &mut id);
        if id.len() > crate::id::MAX_ID_LEN {
            return Err(Error::CookieTooLarge {
                size: id.len(),
                limit: crate::cookie::MAX_COOKIE_SIZE,
            });
        }
        SessionId::parse(&id).ok_or(Error::CorruptRecord)
    }
}

impl SessionStore for CookieStore {
    const SERVER_SIDE: bool = false;

    async fn load(&self, id: &SessionId) -> Result<Option<Record>> {
        let json = URL_SAFE_NO_PAD
            .decode(id.as_str())
            .map_err(|_| Error::CorruptRecord)?;
        crate::store::decode_record(&json).map(Some)
    }

    async fn create(
        &self,
        _id: SessionId,
        record: &Record,
        _ttl: u64,
    ) -> Result<Option<SessionId>> {
        Self::encode(record).map(Some)
    }

    async fn save(&self, _id: &SessionId, record: &Record, _ttl: u64) -> Result<SessionId> {
        Self::encode(record)
    }

    async fn delete(&self, _id: &SessionId) -> Result<()> {
        Ok(())
    }

    async fn touch(&self, id: &SessionId, _ttl: u64) -> Result<Option<SessionId>> {
        Ok(Some(id.clone()))
    }
}

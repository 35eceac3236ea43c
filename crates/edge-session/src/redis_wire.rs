//! The Redis wire format, shared by every store that speaks to Redis (the
//! native `RedisStore` over the Redis protocol, `UpstashStore` over REST), so
//! a native server and a worker share sessions through one database.
//!
//! A session is a hash under `<prefix><id>`: one field per key, the value's
//! JSON text as the field's value (`redis-cli HGETALL session:<id>`), with
//! the session's TTL on the key. No JSON is parsed inside Redis (Lua's cjson
//! would round integers above 2^53); values are parsed by
//! [`decode_fields`](crate::store::decode_fields). Every write is one Lua script
//! (or, for a new session over the Redis protocol, one `RESTORE` of
//! [`dump_payload`]):
//!
//! * [`CREATE`]: `KEYS[1]` the record; `ARGV` from [`create_args`]. Returns 1
//!   once written, 0 if the key exists (never overwrites).
//! * [`SAVE`]: `KEYS[1]` the record; `ARGV` from [`create_args`]. Replaces
//!   the record whole (`DEL`, then as `CREATE`); returns 1.
//! * [`UPDATE`]: `KEYS[1]` the record; `ARGV` from [`change_args`]. Returns 0
//!   (nothing written) unless the record exists as a hash, else applies the
//!   changes (`HSET`, `HDEL`, `HINCRBY`: an increment of a value that is not
//!   an integer, or that would overflow, sets it to the increment) and sets
//!   the TTL. A hash left without fields is gone, as Redis does.
//! * [`CYCLE`]: `KEYS[1]` the old record, `KEYS[2]` the new; `ARGV` from
//!   [`change_args`]. Returns 0 if the old record is gone, 2 if the new key
//!   exists (nothing written either way), 1 once the record was renamed,
//!   changed and given its TTL.
//! * [`TAKE`]: `KEYS[1]` a record: its fields (`HGETALL`), deleted in the
//!   same step; an empty array if it is gone. Redis Cluster's `cycle`, whose
//!   two keys live in different slots, is `TAKE` then `CREATE`.
//!
//! The script files (`src/scripts/*.lua`) carry no comments: their text is
//! sent with every `EVAL` over REST and is part of the worker's wasm.
//!
//! `EXPIRE` refreshes a session (`touch`), `DEL` deletes it, `HGETALL`
//! loads it; a key of another type loads as corrupt (missing), and the
//! scripts treat it as gone.

use alloc::string::{String, ToString as _};
use alloc::vec::Vec;

use crate::error::Result;
use crate::store::{Change, Changes, Record, encode_field};

/// The create script: its check, then the record written to `KEYS[1]`
/// (`scripts/put.lua`, shared with [`SAVE`]).
pub const CREATE: &str = concat!(
    include_str!("scripts/create.lua"),
    include_str!("scripts/put.lua")
);
/// The save script (a whole-record overwrite: the trait's `save`): the old
/// record dropped, then written as [`CREATE`] writes it.
pub const SAVE: &str = concat!(
    include_str!("scripts/save.lua"),
    include_str!("scripts/put.lua")
);
/// The update script: its check, then the changes applied to `k`
/// (`scripts/apply.lua`, shared with [`CYCLE`]).
pub const UPDATE: &str = concat!(
    include_str!("scripts/update.lua"),
    include_str!("scripts/apply.lua")
);
/// The cycle script: its checks and the rename, then the changes applied to
/// the new key (`scripts/apply.lua`, shared with [`UPDATE`]).
pub const CYCLE: &str = concat!(
    include_str!("scripts/cycle.lua"),
    include_str!("scripts/apply.lua")
);
/// The take script (Redis Cluster's cycle).
pub const TAKE: &str = include_str!("scripts/take.lua");

/// `ARGV` of [`CREATE`] and [`SAVE`]: the TTL, then each key and its
/// value's JSON text.
///
/// # Errors
/// [`Error::Json`](crate::Error::Json) if a value cannot be serialized.
pub fn create_args(record: &Record, ttl: u64) -> Result<Vec<String>> {
    let mut args = Vec::with_capacity(1 + 2 * record.len());
    args.push(ttl.max(1).to_string());
    for (key, value) in record {
        args.push(key.clone());
        args.push(encode_field(value)?);
    }
    Ok(args)
}

/// `ARGV` of [`UPDATE`] and [`CYCLE`]: the TTL, then for each change an
/// operation (`s` set, `d` delete, `i` increment), the key, and the value's
/// JSON text (set), nothing (delete) or the increment in decimal
/// ([`change_ops`]).
///
/// # Errors
/// [`Error::Json`](crate::Error::Json) if a value cannot be serialized.
pub fn change_args(changes: &Changes, ttl: u64) -> Result<Vec<String>> {
    let mut args = Vec::with_capacity(1 + 3 * changes.len());
    args.push(ttl.max(1).to_string());
    for (key, op) in change_ops(changes) {
        args.push(String::from(op.letter()));
        args.push(String::from(key));
        args.push(match op {
            ChangeOp::Set(value) => encode_field(value)?,
            ChangeOp::Delete => String::new(),
            ChangeOp::Increment(by) => by.to_string(),
        });
    }
    Ok(args)
}

/// One change as the update and cycle scripts take it: exactly these three
/// operations, so a writer of the arguments can match them all.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ChangeOp<'a> {
    /// `s`: the field set to this value's JSON text.
    Set(&'a serde_json::Value),
    /// `d`: the field deleted (an empty argument).
    Delete,
    /// `i`: the field's integer incremented by this, in decimal.
    Increment(i64),
}

impl ChangeOp<'_> {
    /// The operation's argument: `s`, `d` or `i`.
    pub fn letter(&self) -> &'static str {
        match self {
            ChangeOp::Set(_) => "s",
            ChangeOp::Delete => "d",
            ChangeOp::Increment(_) => "i",
        }
    }
}

/// The changes as the scripts apply them, in order: each key and its
/// operation.
pub fn change_ops(changes: &Changes) -> impl Iterator<Item = (&str, ChangeOp<'_>)> {
    changes.iter().map(|(key, change)| {
        let op = match change {
            Change::Set(value) => ChangeOp::Set(value),
            Change::Remove => ChangeOp::Delete,
            Change::Increment(by) => ChangeOp::Increment(*by),
        };
        (key, op)
    })
}

/// The RDB format version a [`dump_payload`] declares: Redis 5's. Redis 5
/// and later (and Valkey) accept a payload of their own or an older
/// version, and the one type written here (a hash of plain strings, RDB
/// type 4) loads unchanged in all of them; Redis 4 and older refuse it
/// (the native store then creates by script).
pub const DUMP_RDB_VERSION: u16 = 9;

/// The record as a `DUMP` payload of a Redis hash (one field per key, the
/// value's JSON text, as the scripts write it), for `RESTORE key ttl
/// payload`: one command that creates the record with its TTL, or fails
/// with `BUSYKEY` if the key exists, at a fraction of the create script's
/// cost inside Redis. `None` for an empty record (Redis has no empty
/// hash: the script handles it).
///
/// The payload is the hash in the RDB encoding (type 4, then the field
/// count and each string with its length), the RDB version, and the
/// CRC-64 (Jones) of all that, as Redis checks it.
///
/// # Errors
/// [`Error::Json`](crate::Error::Json) if a value cannot be serialized,
/// [`Error::Store`](crate::Error::Store) if a text is over 4 GiB (Redis
/// refuses anything over 512 MB anyway).
pub fn dump_payload(record: &Record) -> Result<Option<Vec<u8>>> {
    if record.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(16 + record.len() * 48);
    out.push(4); // RDB_TYPE_HASH
    push_rdb_len(&mut out, record.len())?;
    for (key, value) in record {
        push_rdb_len(&mut out, key.len())?;
        out.extend_from_slice(key.as_bytes());
        let text = encode_field(value)?;
        push_rdb_len(&mut out, text.len())?;
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(&DUMP_RDB_VERSION.to_le_bytes());
    let crc = crc64_jones(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(Some(out))
}

/// An RDB length: 6 bits, 14 bits (big-endian) or 32 bits (big-endian).
fn push_rdb_len(out: &mut Vec<u8>, len: usize) -> Result<()> {
    match u32::try_from(len) {
        Ok(n) if n < 1 << 6 => out.push(n as u8),
        Ok(n) if n < 1 << 14 => out.extend_from_slice(&(0x4000 | n as u16).to_be_bytes()),
        Ok(n) => {
            out.push(0x80);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Err(_) => return Err(crate::Error::store_msg("a session value over 4 GiB")),
    }
    Ok(())
}

/// CRC-64 with the Jones polynomial, reflected, as Redis computes a `DUMP`
/// payload's checksum (`crc64("123456789") == 0xe9c6d914c4b8d9ca`).
pub fn crc64_jones(data: &[u8]) -> u64 {
    data.iter().fold(0u64, |crc, &byte| {
        CRC64_TABLE[usize::from((crc as u8) ^ byte)] ^ (crc >> 8)
    })
}

const CRC64_TABLE: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

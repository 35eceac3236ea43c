//! base64url without padding, for the two fixed shapes the core writes on
//! every request: a session id (16 bytes, 22 characters) and a cookie's tag
//! (32 bytes, 43 characters). Table-driven and branch-free per character:
//! a tenth of the general-purpose engine's work here, and smaller in wasm.
//! (The cookie store's data, of any length, keeps the `base64` crate.)

/// base64url's alphabet.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Each byte's base64url value, or 0xff for a byte outside the alphabet.
const VALUE: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Writes `input` as base64url into `out`, which must be exactly
/// `ceil(input.len() * 4 / 3)` bytes long (the zero bits after the last
/// byte are written as the canonical text has them).
pub(crate) fn encode(input: &[u8], out: &mut [u8]) {
    debug_assert_eq!(out.len(), (input.len() * 4).div_ceil(3));
    let mut groups = input.chunks_exact(3);
    let mut chars = out.chunks_exact_mut(4);
    for (group, chars) in (&mut groups).zip(&mut chars) {
        let n = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
        for (i, c) in chars.iter_mut().enumerate() {
            *c = ALPHABET[(n >> (18 - 6 * i) & 63) as usize];
        }
    }
    // One or two bytes left: two or three characters.
    let rest = groups.remainder();
    let n = rest
        .iter()
        .enumerate()
        .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
    for (i, c) in chars.into_remainder().iter_mut().enumerate() {
        *c = ALPHABET[(n >> (18 - 6 * i) & 63) as usize];
    }
}

/// A tag's 32 bytes from its 43 base64url characters; `None` for another
/// length, a byte outside the alphabet, or non-zero bits after the last
/// byte (only the canonical text of a tag is accepted).
pub(crate) fn decode_tag(text: &[u8]) -> Option<[u8; 32]> {
    let text: &[u8; 43] = text.try_into().ok()?;
    let mut tag = [0u8; 32];
    let mut bad = 0u8;
    for (chars, group) in text.chunks_exact(4).zip(tag.chunks_exact_mut(3)) {
        let mut n = 0u32;
        for &c in chars {
            let v = VALUE[usize::from(c)];
            bad |= v;
            n = n << 6 | u32::from(v);
        }
        group.copy_from_slice(&n.to_be_bytes()[1..]);
    }
    let (a, b, c) = (
        VALUE[usize::from(text[40])],
        VALUE[usize::from(text[41])],
        VALUE[usize::from(text[42])],
    );
    let n = u32::from(a) << 12 | u32::from(b) << 6 | u32::from(c);
    tag[30] = (n >> 10) as u8;
    tag[31] = (n >> 2) as u8;
    // 0xff marks a byte outside the alphabet: any value over 63 sets a bit
    // of 0xc0; the last character carries two bits past the data.
    ((bad | a | b | c) & 0xc0 == 0 && c & 3 == 0).then_some(tag)
}

#[cfg(test)]
mod tests {
    use super::{decode_tag, encode};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    /// What the base64 crate says of a tag's text (its default config
    /// refuses non-zero trailing bits).
    fn reference(text: &[u8]) -> Option<[u8; 32]> {
        let mut tag = [0u8; 32];
        match URL_SAFE_NO_PAD.decode_slice(text, &mut tag) {
            Ok(32) => Some(tag),
            _ => None,
        }
    }

    #[test]
    fn the_codec_agrees_with_the_base64_crate() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // Every length up to 40 bytes, as the base64 crate writes it.
        for len in 0..=40usize {
            let input: alloc::vec::Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let mut out = alloc::vec![0u8; (len * 4).div_ceil(3)];
            encode(&input, &mut out);
            assert_eq!(out, URL_SAFE_NO_PAD.encode(&input).into_bytes(), "{len}");
        }
        for _ in 0..2_000 {
            let mut tag = [0u8; 32];
            tag.iter_mut().for_each(|b| *b = next() as u8);
            let mut text = [0u8; 43];
            encode(&tag, &mut text);
            assert_eq!(&text[..], URL_SAFE_NO_PAD.encode(tag).as_bytes());
            assert_eq!(decode_tag(&text), Some(tag));
            // A random byte at a random position: accepted exactly when the
            // base64 crate accepts it, with the same bytes.
            let (pos, byte) = ((next() % 43) as usize, next() as u8);
            let mut changed = text;
            changed[pos] = byte;
            assert_eq!(decode_tag(&changed), reference(&changed), "{changed:?}");
        }
        // Every byte at every position of one tag's text.
        let valid = URL_SAFE_NO_PAD.encode([0xa5u8; 32]).into_bytes();
        for pos in 0..43 {
            for byte in 0..=255u8 {
                let mut changed = valid.clone();
                changed[pos] = byte;
                assert_eq!(decode_tag(&changed), reference(&changed), "{pos} {byte}");
            }
        }
        for len in [0, 42, 44, 64] {
            assert_eq!(decode_tag(&valid.repeat(2)[..len]), None);
        }
    }
}

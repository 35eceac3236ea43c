//! RFC 4231 HMAC vectors and the README's cookie-format vectors.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[allow(clippy::wildcard_imports)]
use super::*;

#[test]
fn rfc4231_hmac_sha256_vectors() {
    // (key, data, tag) from RFC 4231 section 4; case 5's tag is truncated to 128 bits.
    let cases: [(Vec<u8>, Vec<u8>, &str); 7] = [
        (vec![0x0b; 20], b"Hi There".to_vec(), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (b"Jefe".to_vec(), b"what do ya want for nothing?".to_vec(), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        (vec![0xaa; 20], vec![0xdd; 50], "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        (hex("0102030405060708090a0b0c0d0e0f10111213141516171819"), vec![0xcd; 50], "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        (vec![0x0c; 20], b"Test With Truncation".to_vec(), "a3b6167473100ee06e0c796c2955552b"),
        (vec![0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        (vec![0xaa; 131], b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(), "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    ];
    for (i, (key, data, tag)) in cases.iter().enumerate() {
        let tag = hex(tag);
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(data);
        if tag.len() == 32 {
            assert!(mac.clone().verify_slice(&tag).is_ok(), "case {}", i + 1);
        } else {
            assert!(
                mac.clone().verify_truncated_left(&tag).is_ok(),
                "case {}",
                i + 1
            );
        }
        let mut wrong = tag.clone();
        wrong[0] ^= 1;
        assert!(
            mac.verify_truncated_left(&wrong).is_err(),
            "case {} must reject",
            i + 1
        );
    }
}

struct Vector {
    key: Vec<u8>,
    name: String,
    id: String,
    expires: u64,
    deadline: Option<u64>,
    mode: Option<SessionExpiry>,
    value: String,
}

fn readme_vectors() -> Vec<Vector> {
    let readme = include_str!("../../../../README.md");
    let start = readme.find("<!-- vectors:begin -->").unwrap();
    let end = readme.find("<!-- vectors:end -->").unwrap();
    let vectors: Vec<Vector> = readme[start..end]
        .lines()
        .filter(|l| l.starts_with("key="))
        .map(|line| {
            let field = |k: &str| {
                line.split(' ')
                    .find_map(|f| f.strip_prefix(k).and_then(|f| f.strip_prefix('=')))
                    .unwrap()
                    .to_string()
            };
            let optional = |k: &str| {
                line.split(' ')
                    .find_map(|f| f.strip_prefix(k).and_then(|f| f.strip_prefix('=')))
                    .map(String::from)
            };
            Vector {
                key: hex(&field("key")),
                name: field("name"),
                id: field("id"),
                expires: field("expires").parse().unwrap(),
                deadline: optional("deadline").map(|d| d.parse().unwrap()),
                mode: optional("mode").map(|m| match m.as_str() {
                    "d" => SessionExpiry::Default,
                    "b" => SessionExpiry::BrowserSession,
                    p => SessionExpiry::Persistent(p[1..].parse().unwrap()),
                }),
                value: field("value"),
            }
        })
        .collect();
    assert!(
        vectors.len() >= 7 && vectors.iter().any(|v| v.mode.is_some()),
        "the README must keep its cookie-format vectors, v1 and v2"
    );
    vectors
}

#[test]
fn readme_cookie_format_vectors() {
    for v in readme_vectors() {
        let ring = KeyRing::new(Key::from_bytes(&v.key));
        let id = SessionId::parse(&v.id).unwrap();
        let mode = v.mode.unwrap_or_default();
        let deadline = v.deadline.filter(|d| *d != 0);
        assert_eq!(
            format::encode_full(&ring, &v.name, &id, v.expires, deadline, mode),
            v.value,
            "encode {}",
            v.value
        );
        if v.mode.is_none() {
            assert_eq!(format::encode(&ring, &v.name, &id, v.expires), v.value);
        }
        let ok = format::verify(&ring, &v.name, v.value.as_bytes(), v.expires - 1).unwrap();
        assert_eq!(
            (ok.id, ok.expires, ok.deadline, ok.mode),
            (id, v.expires, deadline, mode)
        );
        // Expired at its own expiry second.
        assert!(format::verify(&ring, &v.name, v.value.as_bytes(), v.expires).is_none());
        // The name is bound: the same value under another name fails.
        assert!(format::verify(&ring, "other", v.value.as_bytes(), 0).is_none());
        // Another key fails.
        let other = KeyRing::new(Key::from_bytes(&[0xee; 32]));
        assert!(format::verify(&other, &v.name, v.value.as_bytes(), 0).is_none());
    }
}

#[test]
fn readme_cookie_store_vector_decodes_to_its_data() {
    let v = readme_vectors()
        .into_iter()
        .find(|v| v.id.starts_with("eyJ"))
        .expect("the cookie-store vector");
    let id = SessionId::parse(&v.id).unwrap();
    let record = block_on_ready(CookieStore::new().load(&id))
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::Value::Object(record),
        serde_json::json!({"data": "session_data"})
    );
}

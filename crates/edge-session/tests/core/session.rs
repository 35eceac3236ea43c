//! The handler's data: typed access and change tracking.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[allow(clippy::wildcard_imports)]
use super::*;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
    roles: Vec<String>,
}

#[test]
fn session_typed_access_and_change_tracking() {
    let mut s = SessionData::default();
    assert!(!s.is_changed());
    let user = User {
        id: 7,
        name: "ada".into(),
        roles: vec!["admin".into()],
    };
    s.insert("user", &user).unwrap();
    assert_eq!(s.get::<User>("user").unwrap(), Some(user));
    assert!(matches!(s.get::<u32>("user"), Err(Error::Json(_))));
    assert_eq!(s.get::<u32>("absent").unwrap(), None);

    let mut loaded = SessionData::from_record(s.into_record());
    loaded
        .insert(
            "user",
            User {
                id: 7,
                name: "ada".into(),
                roles: vec!["admin".into()],
            },
        )
        .unwrap();
    assert!(!loaded.is_changed(), "an equal value is not a change");
    assert_eq!(loaded.remove_value("absent"), None);
    assert!(
        !loaded.is_changed(),
        "removing a missing key is not a change"
    );
    loaded.insert("n", 1).unwrap();
    assert!(loaded.is_changed());

    let mut loaded = SessionData::from_record(loaded.into_record());
    assert_eq!(loaded.remove::<u32>("n").unwrap(), Some(1));
    assert!(loaded.is_changed());
    assert_eq!(loaded.len(), 1);
    assert!(loaded.contains_key("user"));
    loaded.clear();
    assert!(loaded.is_empty() && loaded.is_cleared());

    // A value that cannot be JSON leaves the session untouched.
    let mut s = SessionData::default();
    let bad: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
    assert!(matches!(s.insert("bad", bad), Err(Error::Json(_))));
    assert!(!s.is_changed() && s.is_empty());
}

#[test]
fn overwriting_a_key_returns_the_old_value_and_records_the_new_one() {
    let mut s = SessionData::default();
    assert_eq!(s.insert("k", 1).unwrap(), None);
    assert_eq!(s.insert("k", "two").unwrap(), Some(serde_json::json!(1)));
    assert_eq!(s.get::<String>("k").unwrap().as_deref(), Some("two"));
    assert_eq!(
        s.changes().get("k"),
        Some(&edge_session::Change::Set(serde_json::json!("two")))
    );
    // An increment of a key that is there replaces its value in place.
    assert_eq!(s.insert("n", 5).unwrap(), None);
    assert_eq!(s.increment("n", 2).unwrap(), 7);
    assert_eq!(s.get::<i64>("n").unwrap(), Some(7));
    assert_eq!(s.len(), 2);
}

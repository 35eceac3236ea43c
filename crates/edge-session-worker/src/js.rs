//! The two Fetch API calls the stores make, on `web_sys` directly: worker's
//! `Request::new_with_init` and `Response::text` carry machinery (cf
//! properties, byte streams) that costs the wasm several KB and that a
//! session store does not use.

use worker::wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys;

/// `POST url` with `body` and `headers`.
pub(crate) fn post(
    url: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Result<worker::Request, JsValue> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(body));
    if !headers.is_empty() {
        let map = web_sys::Headers::new()?;
        for (name, value) in headers {
            map.set(name, value)?;
        }
        init.set_headers(&map);
    }
    web_sys::Request::new_with_str_and_init(url, &init).map(worker::Request::from)
}

/// The body of `response` as text.
pub(crate) async fn text(response: worker::Response) -> Result<String, JsValue> {
    let raw: web_sys::Response = response.into();
    let text = JsFuture::from(raw.text()?).await?;
    Ok(text.as_string().unwrap_or_default())
}

/// A JS error's message.
pub(crate) fn message(e: &JsValue) -> String {
    use worker::wasm_bindgen::JsCast;
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<worker::js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{e:?}"))
}

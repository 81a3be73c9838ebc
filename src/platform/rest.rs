//! A small JSON REST client for one Google Cloud service (or its emulator), used where
//! the typed clients cannot reach: Pub/Sub's unary pull and acks, BigQuery resource
//! metadata and jobs, Cloud Storage buckets and listings (the Rust client does those over
//! gRPC, which the emulator does not serve).
//!
//! Every failure is an [`Error::Api`] with the HTTP status or transport failure it came
//! from, so callers and [`crate::platform::retry`] can tell a 404 from a 429 from a 5xx.

use google_cloud_auth::credentials::{CacheableResource, Credentials};
use http::Extensions;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use crate::platform::error::{Error, Result, Status};

/// Characters left as they are in one path segment: RFC 3986's unreserved set.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Percent-encodes one path segment (a Cloud Storage object name, with its slashes).
pub(crate) fn segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// Query-string encoding as Terraform's `urlencode` does it (Go's `QueryEscape`): letters,
/// digits and `-_.~` stay, a space is `+`, every other byte is `%XX`.
pub fn url_encode(s: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    s.split(' ')
        .map(|part| percent_encoding::utf8_percent_encode(part, KEEP).to_string())
        .collect::<Vec<_>>()
        .join("+")
}

/// The JSON API path of an object: `/b/BUCKET/o/OBJECT` with the name encoded.
pub(crate) fn object_path(bucket: &str, object: &str) -> String {
    format!("/b/{}/o/{}", segment(bucket), segment(object))
}

/// A JSON REST client for one service, authenticated with its credentials.
#[derive(Clone, Debug)]
pub struct Rest {
    service: &'static str,
    http: reqwest::Client,
    base: String,
    creds: Credentials,
}

impl Rest {
    /// A client for the API rooted at `base` (e.g. `http://127.0.0.1:8085/v1`).
    pub fn new(service: &'static str, http: reqwest::Client, base: String, creds: Credentials) -> Self {
        Rest {
            service,
            http,
            base,
            creds,
        }
    }

    async fn auth_headers(&self) -> Result<http::HeaderMap> {
        match self.creds.headers(Extensions::new()).await {
            Ok(CacheableResource::New { data, .. }) => Ok(data),
            Ok(CacheableResource::NotModified) => Ok(http::HeaderMap::new()),
            Err(e) => Err(Error::Credentials {
                service: self.service,
                detail: e.to_string(),
            }),
        }
    }

    async fn send<B: serde::Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        operation: &'static str,
        path: &str,
        body: Option<&B>,
    ) -> Result<Option<reqwest::Response>> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(b);
        }
        self.send_request(req, operation, path).await
    }

    /// Sends a built request with the credentials' headers; `Ok(None)` on 404, an
    /// [`Error::Api`] with the status and BigQuery's (or the service's) message otherwise.
    async fn send_request(
        &self,
        req: reqwest::RequestBuilder,
        operation: &'static str,
        path: &str,
    ) -> Result<Option<reqwest::Response>> {
        let resp = req
            .headers(self.auth_headers().await?)
            .send()
            .await
            .map_err(|e| Error::api(self.service, operation, path, e))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.pointer("/error/message").and_then(Value::as_str).map(str::to_string))
                .unwrap_or(text);
            return Err(Error::remote(
                self.service,
                operation,
                path,
                Status::Http(status.as_u16()),
                message,
            ));
        }
        Ok(Some(resp))
    }

    /// Sends `method path` with an optional JSON body; `Ok(None)` on 404.
    pub async fn call(
        &self,
        method: reqwest::Method,
        operation: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>> {
        let Some(resp) = self.send(method, operation, path, body).await? else {
            return Ok(None);
        };
        self.read_json(resp, operation, path).await.map(Some)
    }

    /// POST a body serialised from any `Serialize` (no intermediate `Value`) and read
    /// the answer straight into `T` from its bytes (no UTF-8 pass over the text): for
    /// large, hot calls such as pulls and acks. `Ok(None)` on 404.
    pub(crate) async fn post_typed<B: serde::Serialize + ?Sized, T: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        path: &str,
        body: &B,
    ) -> Result<Option<T>> {
        let Some(resp) = self.send(reqwest::Method::POST, operation, path, Some(body)).await? else {
            return Ok(None);
        };
        self.read_json(resp, operation, path).await.map(Some)
    }

    /// Reads an answer's JSON from its bytes into `T` (no UTF-8 pass over the text); an
    /// empty answer (some calls answer nothing) reads as JSON null.
    async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        resp: reqwest::Response,
        operation: &'static str,
        path: &str,
    ) -> Result<T> {
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| Error::api(self.service, operation, path, e))?;
        let json: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &bytes
        };
        serde_json::from_slice(json).map_err(|e| {
            Error::remote(
                self.service,
                operation,
                path,
                Status::Other,
                format!("unreadable answer: {e}"),
            )
        })
    }

    /// POST a `multipart/related` upload, the JSON `metadata` then the `media`, to the
    /// service's upload endpoint (the base URL with `/upload` before its path, as
    /// `.../upload/bigquery/v2` for BigQuery's `jobs.insert` with data), and reads the
    /// JSON answer; a 404 is an error here.
    pub(crate) async fn upload(
        &self,
        operation: &'static str,
        path: &str,
        metadata: &Value,
        media: &[u8],
        media_type: &str,
    ) -> Result<Value> {
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| Error::api(self.service, operation, path, e.to_string()))?;
        url.set_path(&format!("/upload{}", url.path()));
        let boundary = format!("instashop-{}", uuid::Uuid::new_v4().simple());
        let mut body = Vec::with_capacity(media.len() + 512);
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{metadata}\r\n--{boundary}\r\nContent-Type: {media_type}\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(media);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let req = self
            .http
            .post(url)
            .query(&[("uploadType", "multipart")])
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/related; boundary={boundary}"),
            )
            .body(body);
        let resp = self
            .send_request(req, operation, path)
            .await?
            .ok_or_else(|| self.not_found(operation, path))?;
        self.read_json(resp, operation, path).await
    }

    /// GET raw bytes (e.g. an object's media); `None` when it does not exist.
    pub async fn get_bytes(&self, operation: &'static str, path: &str) -> Result<Option<Vec<u8>>> {
        let Some(resp) = self.send::<Value>(reqwest::Method::GET, operation, path, None).await? else {
            return Ok(None);
        };
        let b = resp
            .bytes()
            .await
            .map_err(|e| Error::api(self.service, operation, path, e))?;
        Ok(Some(b.to_vec()))
    }

    /// GET; `None` when the resource does not exist.
    pub async fn get(&self, operation: &'static str, path: &str) -> Result<Option<Value>> {
        self.call(reqwest::Method::GET, operation, path, None).await
    }

    /// POST a JSON body; a 404 is an error here.
    pub async fn post(&self, operation: &'static str, path: &str, body: &Value) -> Result<Value> {
        self.call(reqwest::Method::POST, operation, path, Some(body))
            .await?
            .ok_or_else(|| self.not_found(operation, path))
    }

    /// PATCH a JSON body; a 404 is an error here.
    pub(crate) async fn patch(&self, operation: &'static str, path: &str, body: &Value) -> Result<Value> {
        self.call(reqwest::Method::PATCH, operation, path, Some(body))
            .await?
            .ok_or_else(|| self.not_found(operation, path))
    }

    /// DELETE; `Ok(false)` when it did not exist.
    pub async fn delete(&self, operation: &'static str, path: &str) -> Result<bool> {
        Ok(self
            .call(reqwest::Method::DELETE, operation, path, None)
            .await?
            .is_some())
    }

    fn not_found(&self, operation: &'static str, path: &str) -> Error {
        Error::remote(self.service, operation, path, Status::Http(404), "not found")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_encoded_as_one_segment() {
        assert_eq!(segment("datasets/.keep"), "datasets%2F.keep");
        assert_eq!(segment("a b/ñ?#%"), "a%20b%2F%C3%B1%3F%23%25");
        assert_eq!(
            object_path("bkt", "pipelines/batch-loader/orders.csv"),
            "/b/bkt/o/pipelines%2Fbatch-loader%2Forders.csv"
        );
    }
}

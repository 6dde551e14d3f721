//! GraphQL over HTTP: one keep-alive client, and the classification of answers into outcomes.
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::Value;

use crate::stats::{Outcome, Sample};

/// A GraphQL endpoint reached through one pooled HTTP client.
#[derive(Clone)]
pub struct Gql {
    http: reqwest::Client,
    url: reqwest::Url,
}

/// A raw answer: HTTP status and body.
pub struct Answer<'a> {
    pub status: u16,
    pub body: &'a [u8],
}

impl Gql {
    /// A client for `url` keeping up to `pool` idle connections alive.
    pub fn new(url: &str, pool: usize) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(url).with_context(|| format!("bad target URL `{url}`"))?;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(pool)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("building the HTTP client")?;
        Ok(Self { http, url })
    }

    /// The same HTTP client (same settings, same keep-alive pools) pointed at another endpoint.
    pub fn with_url(&self, url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: self.http.clone(),
            url: reqwest::Url::parse(url).with_context(|| format!("bad URL `{url}`"))?,
        })
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// POSTs one operation (`token` is a customer access token) and hands the answer to `f`.
    pub async fn post<T>(
        &self,
        query: &str,
        variables: &Value,
        token: Option<&str>,
        f: impl FnOnce(Answer<'_>) -> T,
    ) -> Result<T, reqwest::Error> {
        let mut req = self
            .http
            .post(self.url.clone())
            .json(&serde_json::json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await?;
        Ok(f(Answer {
            status,
            body: &body,
        }))
    }

    /// Runs a read and classifies the answer without building the data tree.
    pub async fn read(&self, query: &str, variables: &Value, token: Option<&str>) -> Sample {
        match self
            .post(query, variables, token, |a| classify_read(&a))
            .await
        {
            Ok(o) => o.into(),
            Err(e) => transport(&e).into(),
        }
    }

    /// Runs a mutation (or a read whose data is needed), classifies it against the payload at `data.<field>`
    /// and returns the data too (when there was an answer).
    pub async fn call(
        &self,
        query: &str,
        variables: &Value,
        token: Option<&str>,
        field: &str,
    ) -> (Sample, Option<Value>) {
        self.post(query, variables, token, |a| classify_payload(&a, field))
            .await
            .unwrap_or_else(|e| (transport(&e).into(), None))
    }

    /// Runs an operation during setup: any error is fatal. Returns `data`.
    pub async fn data(
        &self,
        query: &str,
        variables: &Value,
        token: Option<&str>,
    ) -> anyhow::Result<Value> {
        let (status, body) = self
            .post(query, variables, token, |a| {
                (
                    a.status,
                    serde_json::from_slice::<Value>(a.body)
                        .map_err(|_| String::from_utf8_lossy(a.body).into_owned()),
                )
            })
            .await
            .with_context(|| format!("cannot reach {}", self.url))?;
        let body = body.map_err(|text| anyhow::anyhow!("HTTP {status}: not JSON: {text}"))?;
        if let Some(errs) = body["errors"].as_array().filter(|e| !e.is_empty()) {
            bail!(
                "GraphQL errors (HTTP {status}): {}",
                Value::from(errs.clone())
            );
        }
        if !(200..300).contains(&status) {
            bail!("HTTP {status}: {body}");
        }
        Ok(body["data"].clone())
    }
}

fn transport(e: &reqwest::Error) -> Outcome {
    let kind = if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else if e.is_request() {
        "request"
    } else {
        "other"
    };
    Outcome::Transport(kind.into())
}

#[derive(Deserialize)]
struct ErrorItem {
    #[serde(default)]
    extensions: Option<Extensions>,
}

#[derive(Deserialize)]
struct Extensions {
    code: Option<String>,
    #[serde(rename = "errorCode")]
    error_code: Option<String>,
}

/// The envelope of an answer, skipping over `data` without building it.
#[derive(Deserialize)]
struct Envelope {
    data: Option<serde::de::IgnoredAny>,
    errors: Option<Vec<ErrorItem>>,
}

/// The code of a top-level error: the stable service code (`extensions.errorCode`) when there is one,
/// else `extensions.code` (the error kind).
fn error_code(errors: &[ErrorItem]) -> String {
    errors
        .first()
        .and_then(|e| e.extensions.as_ref())
        .and_then(|x| x.error_code.clone().or_else(|| x.code.clone()))
        .unwrap_or_else(|| "GRAPHQL_ERROR".into())
}

fn http_error(status: u16) -> Option<Outcome> {
    (!(200..300).contains(&status)).then(|| Outcome::Error(format!("HTTP_{status}")))
}

/// Classifies an answer to a read: top-level errors first, then the HTTP status, then the presence of data.
pub fn classify_read(a: &Answer) -> Outcome {
    match serde_json::from_slice::<Envelope>(a.body) {
        Ok(Envelope {
            errors: Some(errs), ..
        }) if !errs.is_empty() => Outcome::Error(error_code(&errs)),
        Ok(env) => http_error(a.status).unwrap_or(if env.data.is_some() {
            Outcome::Ok
        } else {
            Outcome::Error("NO_DATA".into())
        }),
        Err(_) => http_error(a.status).unwrap_or(Outcome::Error("BAD_BODY".into())),
    }
}

/// Classifies an answer whose payload is at `data.<field>`: top-level errors, HTTP status, then the payload's
/// `userErrors[0].code` (a business outcome); warnings' codes are collected. Returns `data` when present.
pub fn classify_payload(a: &Answer, field: &str) -> (Sample, Option<Value>) {
    let Ok(body) = serde_json::from_slice::<Value>(a.body) else {
        let o = http_error(a.status).unwrap_or(Outcome::Error("BAD_BODY".into()));
        return (o.into(), None);
    };
    if let Some(errs) = body["errors"].as_array().filter(|e| !e.is_empty()) {
        let code = errs[0]["extensions"]["errorCode"]
            .as_str()
            .or_else(|| errs[0]["extensions"]["code"].as_str())
            .unwrap_or("GRAPHQL_ERROR");
        return (Outcome::Error(code.into()).into(), None);
    }
    if let Some(o) = http_error(a.status) {
        return (o.into(), None);
    }
    let Some(data) = body.get("data").filter(|d| !d.is_null()).cloned() else {
        return (Outcome::Error("NO_DATA".into()).into(), None);
    };
    let payload = &data[field];
    let outcome = match payload["userErrors"].as_array().and_then(|e| e.first()) {
        Some(e) => Outcome::UserError(e["code"].as_str().unwrap_or("USER_ERROR").into()),
        None => Outcome::Ok,
    };
    let warnings = payload["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w["code"].as_str().map(String::from))
        .collect();
    (
        Sample {
            outcome,
            warnings,
            probe: None,
        },
        Some(data),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer<'_> {
        Answer {
            status,
            body: body.as_bytes(),
        }
    }

    #[test]
    fn reads_are_classified() {
        assert_eq!(
            classify_read(&answer(200, r#"{"data":{"x":[1,2,{"y":null}]}}"#)),
            Outcome::Ok
        );
        assert_eq!(
            classify_read(&answer(
                200,
                r#"{"data":null,"errors":[{"message":"m","extensions":{"code":"INVALID_ARGUMENT","errorCode":"BAD_GID"}}]}"#
            )),
            Outcome::Error("BAD_GID".into())
        );
        assert_eq!(
            classify_read(&answer(
                400,
                r#"{"errors":[{"message":"m","extensions":{"code":"COMPLEXITY"}}]}"#
            )),
            Outcome::Error("COMPLEXITY".into())
        );
        assert_eq!(
            classify_read(&answer(503, "busy")),
            Outcome::Error("HTTP_503".into())
        );
        assert_eq!(
            classify_read(&answer(200, "<html>")),
            Outcome::Error("BAD_BODY".into())
        );
        assert_eq!(
            classify_read(&answer(200, r#"{"data":null}"#)),
            Outcome::Error("NO_DATA".into())
        );
    }

    #[test]
    fn payloads_give_user_errors_and_warnings() {
        let (s, data) = classify_payload(
            &answer(
                200,
                r#"{"data":{"cartCreate":{"cart":{"id":"c"},"userErrors":[],"warnings":[{"code":"MERCHANDISE_NOT_ENOUGH_STOCK"}]}}}"#,
            ),
            "cartCreate",
        );
        assert_eq!(s.outcome, Outcome::Ok);
        assert_eq!(s.warnings, ["MERCHANDISE_NOT_ENOUGH_STOCK"]);
        assert_eq!(data.unwrap()["cartCreate"]["cart"]["id"], "c");
        let (s, _) = classify_payload(
            &answer(
                200,
                r#"{"data":{"cartCheckout":{"order":null,"userErrors":[{"code":"INSUFFICIENT_STOCK","message":"m"}]}}}"#,
            ),
            "cartCheckout",
        );
        assert_eq!(s.outcome, Outcome::UserError("INSUFFICIENT_STOCK".into()));
        let (s, data) = classify_payload(
            &answer(
                200,
                r#"{"data":null,"errors":[{"extensions":{"code":"INTERNAL"}}]}"#,
            ),
            "x",
        );
        assert_eq!(s.outcome, Outcome::Error("INTERNAL".into()));
        assert!(data.is_none());
    }
}

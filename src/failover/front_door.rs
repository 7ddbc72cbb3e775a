//! Writes through the front door (the URL the clients use), as OpenKM's users do: the
//! drill's probe and a flow's front-door check create small documents with OpenKM's
//! REST `createSimple`. The HTTP client is built once and reused; each write has its own
//! deadline, and the OpenKM password travels only in the request's Basic auth header,
//! never in a URL, a command line or a log.

use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, eyre};

use crate::config::{NodeConfig, Secret};

/// How long one write may take, from connecting to the end of the answer's body.
pub(super) const WRITE_WITHIN: Duration = Duration::from_secs(5);

/// OpenKM's REST call that creates a document from a multipart form.
const CREATE_SIMPLE: &str = "/OpenKM/services/rest/document/createSimple";

/// What one write got back.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Answer {
    /// The server answered with an HTTP status; `cut` says what broke off reading the
    /// body, if anything.
    Http {
        code: u16,
        body: String,
        cut: Option<String>,
    },
    /// No HTTP answer at all (refused, timed out, TLS refused), and why.
    Failed(String),
}

impl Answer {
    /// OpenKM created the document (HTTP 200): losing it would be data loss.
    pub(super) fn acknowledged(&self) -> bool {
        matches!(self, Answer::Http { code: 200, .. })
    }

    /// The HTTP status in three digits; `000` when there was no answer, as the drill's
    /// probe log has always written it.
    pub(super) fn code(&self) -> String {
        match self {
            Answer::Http { code, .. } => format!("{code:03}"),
            Answer::Failed(_) => "000".into(),
        }
    }

    /// The first `chars` characters of the body (empty without an answer).
    pub(super) fn body_head(&self, chars: usize) -> String {
        match self {
            Answer::Http { body, .. } => body.chars().take(chars).collect(),
            Answer::Failed(_) => String::new(),
        }
    }

    /// What went wrong on the way, if anything (empty when the exchange was whole).
    pub(super) fn complaint(&self) -> &str {
        match self {
            Answer::Http { cut, .. } => cut.as_deref().unwrap_or(""),
            Answer::Failed(why) => why,
        }
    }
}

/// The front door's `createSimple` with the credentials of one OpenKM user.
#[derive(Debug, Clone)]
pub(super) struct FrontDoor {
    client: reqwest::Client,
    url: String,
    user: String,
    password: Secret,
}

impl FrontDoor {
    /// The client for `front` with the OpenKM user of `node` (its password resolved
    /// from the config's source, never put on a command line).
    pub(super) fn for_node(front: &str, node: &NodeConfig) -> Result<FrontDoor> {
        let password = node
            .http
            .password_source()
            .map_err(|e| eyre!("{}: OpenKM password: {e}", node.name))?
            .resolve()
            .map_err(|e| eyre!("{}: OpenKM password: {e}", node.name))?;
        FrontDoor::new(front, &node.http.user, password)
    }

    /// The client for `front` (the `[traffic] front_url`). Each write opens its own
    /// connection, as one `curl` per write did: a kept-alive connection could stay with
    /// a server the balancer has since taken out, and the drill would measure that.
    pub(super) fn new(front: &str, user: &str, password: Secret) -> Result<FrontDoor> {
        // reqwest is built without a crypto provider of its own (its default, aws-lc,
        // needs cmake and a C toolchain); rustls' ring, which mysql_async uses too, is
        // the one compiled in. Already installed (by an earlier call) is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = reqwest::Client::builder()
            .user_agent(concat!("okmirror/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0);
        // A plain-HTTP front door needs no certificates: do not require the system's.
        let builder = if front.starts_with("https://") {
            builder
        } else {
            builder.tls_certs_only(std::iter::empty())
        };
        let client = builder
            .build()
            .wrap_err_with(|| format!("building the HTTP client for {front}"))?;
        Ok(FrontDoor {
            client,
            url: create_simple_url(front),
            user: user.to_string(),
            password,
        })
    }

    /// POSTs `content` as the new document `doc_path` (a multipart form like `curl -F`),
    /// waiting at most `within` for the whole answer.
    pub(super) async fn create(&self, doc_path: &str, content: String, within: Duration) -> Answer {
        let form = reqwest::multipart::Form::new()
            .text("docPath", doc_path.to_string())
            .text("content", content);
        let sent = self
            .client
            .post(&self.url)
            .basic_auth(&self.user, Some(self.password.expose()))
            .multipart(form)
            .timeout(within)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Answer::Failed(why(e)),
        };
        let code = response.status().as_u16();
        match response.bytes().await {
            Ok(b) => Answer::Http {
                code,
                body: String::from_utf8_lossy(&b).into_owned(),
                cut: None,
            },
            Err(e) => Answer::Http {
                code,
                body: String::new(),
                cut: Some(why(e)),
            },
        }
    }
}

/// `createSimple` under the front door's URL (a trailing slash is not doubled).
fn create_simple_url(front: &str) -> String {
    format!("{}{CREATE_SIMPLE}", front.trim_end_matches('/'))
}

/// An HTTP error in one line with its causes (the URL left out: it is known, and short
/// lines read better in the probe's log).
fn why(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !out.ends_with(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[test]
    fn the_url_is_create_simple_under_the_front_door() {
        assert_eq!(
            create_simple_url("http://127.0.0.1:8080/"),
            "http://127.0.0.1:8080/OpenKM/services/rest/document/createSimple"
        );
        assert_eq!(
            create_simple_url("https://dms.example.org"),
            "https://dms.example.org/OpenKM/services/rest/document/createSimple"
        );
    }

    #[test]
    fn answers_are_classified_by_their_status() {
        let http = |code: u16, cut: Option<&str>| Answer::Http {
            code,
            body: "ItemExistsException: /okm:root/a".into(),
            cut: cut.map(str::to_string),
        };
        assert!(http(200, None).acknowledged());
        assert!(http(200, Some("body cut")).acknowledged());
        assert!(!http(201, None).acknowledged());
        assert!(!Answer::Failed("refused".into()).acknowledged());
        assert_eq!(http(503, None).code(), "503");
        assert_eq!(Answer::Failed("refused".into()).code(), "000");
        assert_eq!(http(500, None).body_head(4), "Item");
        assert_eq!(http(500, None).complaint(), "");
        assert_eq!(http(500, Some("cut")).complaint(), "cut");
        assert_eq!(Answer::Failed("refused".into()).complaint(), "refused");
    }

    /// Reads one HTTP request (head and a body of Content-Length bytes).
    async fn read_request(s: &mut tokio::net::TcpStream) -> String {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).into_owned();
            if let Some(head_end) = text.find("\r\n\r\n") {
                let length = text[..head_end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if buf.len() >= head_end + 4 + length {
                    return text;
                }
            }
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// A one-shot server on the loopback: answers the first request with `reply`.
    async fn serve_once(reply: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front = format!("http://{}/", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let request = read_request(&mut s).await;
            let _ = s.write_all(reply.as_bytes()).await;
            let _ = s.shutdown().await;
            request
        });
        (front, task)
    }

    #[tokio::test]
    async fn a_write_is_a_multipart_post_with_basic_auth() {
        let (front, server) = serve_once(
            "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{\"a\":1}",
        )
        .await;
        let door = FrontDoor::new(&front, "okmAdmin", Secret::new("s3cr:et")).unwrap();
        let answer = door
            .create("/okm:root/x/1.txt", "hello".into(), WRITE_WITHIN)
            .await;
        assert_eq!(
            answer,
            Answer::Http {
                code: 200,
                body: "{\"a\":1}".into(),
                cut: None
            }
        );
        let request = server.await.unwrap();
        assert!(
            request.starts_with("POST /OpenKM/services/rest/document/createSimple HTTP/1.1\r\n"),
            "{request}"
        );
        // base64("okmAdmin:s3cr:et")
        assert!(
            request.contains("authorization: Basic b2ttQWRtaW46czNjcjpldA==\r\n"),
            "{request}"
        );
        assert!(
            request.contains("content-type: multipart/form-data; boundary="),
            "{request}"
        );
        assert!(
            request.contains(
                "Content-Disposition: form-data; name=\"docPath\"\r\n\r\n/okm:root/x/1.txt\r\n"
            ),
            "{request}"
        );
        assert!(
            request.contains("Content-Disposition: form-data; name=\"content\"\r\n\r\nhello\r\n"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn redirects_are_answers_not_followed() {
        let (front, server) = serve_once(
            "HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
        let door = FrontDoor::new(&front, "u", Secret::new("p")).unwrap();
        let answer = door.create("/okm:root/a", "b".into(), WRITE_WITHIN).await;
        assert_eq!(answer.code(), "302");
        assert!(!answer.acknowledged());
        let _ = server.await;
    }

    #[tokio::test]
    async fn a_silent_server_is_a_timeout_and_a_closed_port_a_failure() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front = format!("http://{}", listener.local_addr().unwrap());
        let door = FrontDoor::new(&front, "u", Secret::new("hunter2-secret")).unwrap();
        let started = std::time::Instant::now();
        let answer = door
            .create("/okm:root/a", "b".into(), Duration::from_millis(300))
            .await;
        assert!(started.elapsed() < Duration::from_secs(3));
        match &answer {
            Answer::Failed(why) => assert!(why.contains("timed out"), "{why}"),
            other => panic!("{other:?}"),
        }
        drop(listener);
        let answer = door.create("/okm:root/a", "b".into(), WRITE_WITHIN).await;
        assert_eq!(answer.code(), "000");
        assert!(!answer.complaint().is_empty());
        assert!(!format!("{door:?} {answer:?}").contains("hunter2"));
    }
}

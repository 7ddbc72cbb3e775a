//! The HTTP face: OpenKM's REST paths that okmirror and its tests use.

use std::io::Read;
use std::sync::Arc;

use base64::Engine;
use tiny_http::{Header, Method, Request, Response, Server};

use crate::multipart;
use crate::settings::Settings;
use crate::store::{Store, StoreError};

const REST: &str = "/OpenKM/services/rest";
const MAX_BODY: u64 = 256 * 1024 * 1024;
const WORKERS: usize = 8;

/// Serves until the process is stopped.
pub fn run(settings: Settings) -> Result<(), String> {
    let store = Store::open(&settings)?;
    let mut server = listen(&settings.listen)?;
    eprintln!(
        "openkm-standin: listening on {} (read-only: {}, repository {})",
        settings.listen, store.read_only, store.repository_uuid
    );
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", settings.auth_user, settings.auth_password))
    );
    let shared = Arc::new((store, expected_auth));
    loop {
        let why = serve(Arc::new(server), &shared);
        // tiny_http's accept thread stops for good on an accept error (a client that
        // reset before it was accepted, say): the instance would serve nothing again,
        // or exit. A real OpenKM keeps listening, so the stand-in listens again.
        eprintln!("openkm-standin: the listener stopped ({why}); listening again");
        server = listen(&settings.listen)?;
    }
}

/// Binds the HTTP listener, retrying for a few seconds while the old one is going.
fn listen(addr: &str) -> Result<Server, String> {
    let mut tries = 0;
    loop {
        match Server::http(addr) {
            Ok(s) => return Ok(s),
            Err(e) if tries >= 50 => return Err(format!("{addr}: {e}")),
            Err(_) => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
}

/// Runs the workers on `server` until its accept loop ends; returns why it ended.
fn serve(server: Arc<Server>, shared: &Arc<(Store, String)>) -> String {
    let (stopped_tx, stopped_rx) = std::sync::mpsc::channel::<String>();
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (server, shared, stopped) =
                (Arc::clone(&server), Arc::clone(shared), stopped_tx.clone());
            std::thread::spawn(move || {
                let (store, auth) = &*shared;
                loop {
                    match server.recv() {
                        Ok(req) => handle(req, store, auth),
                        Err(e) => {
                            let _ = stopped.send(e.to_string());
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    drop(stopped_tx);
    let why = stopped_rx
        .recv()
        .unwrap_or_else(|_| "every worker ended".into());
    // The other workers wait in recv() for requests that will never come.
    for _ in 0..WORKERS {
        server.unblock();
    }
    for w in workers {
        let _ = w.join();
    }
    why
}

fn handle(mut req: Request, store: &Store, expected_auth: &str) {
    let url = req.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let path = path.to_string();
    let query = query.to_string();
    let method = req.method().clone();

    if path == "/OpenKM/Status" {
        let resp = if store.healthy() {
            text(200, "OK")
        } else {
            text(500, "Database not available")
        };
        let _ = req.respond(resp);
        return;
    }
    if !path.starts_with(REST) {
        let _ = req.respond(text(404, "Not found"));
        return;
    }
    let authorized = req
        .headers()
        .iter()
        .any(|h| h.field.equiv("Authorization") && h.value.as_str() == expected_auth);
    if !authorized {
        let mut r = text(401, "Unauthorized");
        if let Ok(h) = Header::from_bytes("WWW-Authenticate", "Basic realm=\"OpenKM\"") {
            r.add_header(h);
        }
        let _ = req.respond(r);
        return;
    }
    let resp = match (method, &path[REST.len()..]) {
        (Method::Get, "/repository/getAppVersion") => json(
            200,
            r#"{"major":"6","minor":"3","maintenance":"12","build":"standin","extension":"CE"}"#,
        ),
        (Method::Get, "/repository/getRepositoryUuid") => text(200, &store.repository_uuid),
        (Method::Post, "/document/createSimple") => create(&mut req, store),
        (Method::Get, "/document/getContent") => match query_param(&query, "docId") {
            Some(doc) => match store.content(&doc) {
                Ok(bytes) => Response::from_data(bytes).with_status_code(200),
                Err(e) => error(e),
            },
            None => text(400, "missing docId"),
        },
        _ => text(404, "Not found"),
    };
    let _ = req.respond(resp);
}

fn create(req: &mut Request, store: &Store) -> Response<std::io::Cursor<Vec<u8>>> {
    let content_type = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Content-Type"))
        .map(|h| h.value.as_str().to_string())
        .unwrap_or_default();
    let Some(boundary) = multipart::boundary(&content_type) else {
        return text(400, "expected multipart/form-data");
    };
    let mut body = Vec::new();
    if let Err(e) = req.as_reader().take(MAX_BODY).read_to_end(&mut body) {
        return text(400, &format!("reading the body: {e}"));
    }
    let Some(parts) = multipart::parse(&body, &boundary) else {
        return text(400, "malformed multipart body");
    };
    let field = |name: &str| parts.iter().find(|p| p.name == name).map(|p| p.data);
    let (Some(doc_path), Some(content)) = (field("docPath"), field("content")) else {
        return text(400, "fields docPath and content are required");
    };
    let Ok(doc_path) = std::str::from_utf8(doc_path) else {
        return text(400, "docPath is not UTF-8");
    };
    if !doc_path.starts_with("/okm:root/") {
        return text(
            500,
            "PathNotFoundException: docPath must start with /okm:root/",
        );
    }
    match store.create(doc_path, content) {
        Ok(uuid) => json(
            200,
            &format!(
                r#"{{"path":{},"uuid":"{uuid}","actualVersion":{{"name":"1.0","size":{}}}}}"#,
                serde_json::Value::String(doc_path.to_string()),
                content.len()
            ),
        ),
        Err(e) => error(e),
    }
}

fn error(e: StoreError) -> Response<std::io::Cursor<Vec<u8>>> {
    match e {
        StoreError::ReadOnly => text(500, "AccessDeniedException: System is in read-only mode"),
        StoreError::Exists(p) => text(500, &format!("ItemExistsException: {p}")),
        StoreError::NotFound(p) => text(404, &format!("PathNotFoundException: {p}")),
        StoreError::Internal(m) => text(500, &format!("RepositoryException: {m}")),
    }
}

fn text(code: u16, body: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    let mut r = Response::from_string(body).with_status_code(code);
    if let Ok(h) = Header::from_bytes("Content-Type", "text/plain; charset=utf-8") {
        r.add_header(h);
    }
    r
}

fn json(code: u16, body: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    let mut r = Response::from_string(body).with_status_code(code);
    if let Ok(h) = Header::from_bytes("Content-Type", "application/json") {
        r.add_header(h);
    }
    r
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

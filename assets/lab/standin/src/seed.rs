//! A tiny keep-alive HTTP client that creates documents through the REST API, so the
//! lab is seeded the way users fill OpenKM: through the front door.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine;

/// What `seed` was asked to do.
pub struct Seed {
    host_port: String,
    count: usize,
    prefix: String,
    size: usize,
    auth: String,
}

impl Seed {
    /// Parses `--url http://HOST:PORT --count N [--prefix P] [--size B] [--user U] [--password-file F]`.
    pub fn from_args(args: &[String]) -> Result<Seed, String> {
        let mut url = None;
        let mut count = None;
        let mut prefix = "/okm:root/seed".to_string();
        let mut size = 2048usize;
        let mut user = "okmAdmin".to_string();
        let mut password = "admin".to_string();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it
                .next()
                .ok_or_else(|| format!("{flag} needs a value"))?
                .clone();
            match flag.as_str() {
                "--url" => url = Some(value),
                "--count" => count = Some(value.parse().map_err(|_| "--count: not a number")?),
                "--prefix" => prefix = value,
                "--size" => size = value.parse().map_err(|_| "--size: not a number")?,
                "--user" => user = value,
                "--password-file" => {
                    password = std::fs::read_to_string(&value)
                        .map_err(|e| format!("{value}: {e}"))?
                        .trim_end()
                        .to_string()
                }
                other => return Err(format!("unknown option {other}")),
            }
        }
        let url = url.ok_or("--url is required")?;
        let host_port = url
            .strip_prefix("http://")
            .ok_or("--url must start with http://")?
            .trim_end_matches('/')
            .to_string();
        Ok(Seed {
            host_port,
            count: count.ok_or("--count is required")?,
            prefix: prefix.trim_end_matches('/').to_string(),
            size,
            auth: base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")),
        })
    }

    /// Creates the documents with four connections at once; fails on the first refusal.
    pub fn run(self) -> Result<(), String> {
        let threads = 4.min(self.count.max(1));
        let seed = std::sync::Arc::new(self);
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let seed = std::sync::Arc::clone(&seed);
                std::thread::spawn(move || seed.run_share(t, threads))
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| "a seeding thread panicked".to_string())??;
        }
        eprintln!("openkm-standin: created {} documents", seed.count);
        Ok(())
    }

    fn run_share(&self, first: usize, step: usize) -> Result<(), String> {
        let mut conn = Conn::open(&self.host_port)?;
        for i in (first..self.count).step_by(step) {
            let path = format!("{}/doc-{i:07}.txt", self.prefix);
            let content = body_for(i, self.size);
            conn.create(&self.host_port, &self.auth, &path, &content)
                .map_err(|e| format!("creating {path}: {e}"))?;
        }
        Ok(())
    }
}

/// Deterministic, distinct content for document `i`.
fn body_for(i: usize, size: usize) -> Vec<u8> {
    let line = format!("document {i} of the okmirror lab\n");
    line.bytes().cycle().take(size.max(line.len())).collect()
}

struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn open(host_port: &str) -> Result<Conn, String> {
        let s = TcpStream::connect(host_port).map_err(|e| format!("{host_port}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        Ok(Conn {
            reader: BufReader::new(s),
        })
    }

    fn create(&mut self, host: &str, auth: &str, path: &str, content: &[u8]) -> Result<(), String> {
        let boundary = "okmirror-seed-boundary-7d1f";
        let mut body = Vec::with_capacity(content.len() + 300);
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"docPath\"\r\n\r\n{path}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"doc\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        body.extend_from_slice(content);
        write!(body, "\r\n--{boundary}--\r\n").map_err(|e| e.to_string())?;
        let head = format!(
            "POST /OpenKM/services/rest/document/createSimple HTTP/1.1\r\nHost: {host}\r\n\
             Authorization: Basic {auth}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );
        let stream = self.reader.get_mut();
        stream
            .write_all(head.as_bytes())
            .map_err(|e| e.to_string())?;
        stream.write_all(&body).map_err(|e| e.to_string())?;
        let (status, text) = self.read_response()?;
        if status != 200 {
            return Err(format!("HTTP {status}: {text}"));
        }
        Ok(())
    }

    fn read_response(&mut self) -> Result<(u16, String), String> {
        let mut line = String::new();
        self.reader
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {line:?}"))?;
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h).map_err(|e| e.to_string())?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        self.reader
            .read_exact(&mut body)
            .map_err(|e| e.to_string())?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}
